package console

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"strconv"
	"strings"
	"time"

	"settle/adapters/postgres"
	"settle/approval"
	"settle/jobs"
	"settle/settlement"
)

// ApprovalStore is the record of four-eyes requests the Approver needs;
// the Postgres job store implements it.
type ApprovalStore interface {
	RequestDeferral(ctx context.Context, d jobs.Deferral, by string, at time.Time) (approval.Request, error)
	RequestReplay(ctx context.Context, uuid, note, by string, at time.Time) (approval.Request, error)
	DecideRequestWith(ctx context.Context, id int64, decision, by string, at time.Time,
		carryOut func(context.Context, approval.Request) error) (approval.Request, error)
	RecordReplay(ctx context.Context, p postgres.PoisonReplay, publish func(context.Context, *sql.Tx) error) error
	Cycle(ctx context.Context, date settlement.Date) (settlement.Cycle, bool, error)
}

// PoisonQueue is the event bus's poison queue (adapters/events.Bus).
type PoisonQueue interface {
	ListPoisoned(ctx context.Context) ([]jobs.Poisoned, error)
	// PublishTx writes an event into the bus's outbox inside tx.
	PublishTx(ctx context.Context, tx *sql.Tx, e jobs.Event) error
}

// Approver is the four-eyes rule's application side: a deferral and a
// money-moving replay are requested by one operator and carried out when
// another approves (with write-offs and cap raises, whose store functions
// carry them out themselves). The console's buttons and the CLI
// (`settle cycle defer`, `settle ops poison-replay`, `settle approve`)
// call these same functions, so neither can go round the rule.
type Approver struct {
	Store ApprovalStore
	// Defer carries out an approved deferral: jobs.Pipeline.Defer, with
	// its locks and the bank's notice. Nil: deferrals cannot be approved.
	Defer func(ctx context.Context, d jobs.Deferral) (jobs.DeferredFile, error)
	// Poison is the bus's poison queue; nil: nothing can be replayed.
	Poison PoisonQueue
	// Calendar, when set, refuses a deferral to a day no cycle runs on and
	// gives the default target (the next business day).
	Calendar *jobs.Calendar
}

// Errors of the Approver.
var (
	ErrNoPoison    = errors.New("no such poisoned message")
	ErrStaleReplay = errors.New("replaying this event would do nothing the cycle needs")
	ErrUnavailable = errors.New("not available here")
)

// MovesMoney tells whether replaying an event of topic runs a step that
// leads a cycle to settlement (netting, the ledger write, the settlement
// itself): such a replay needs a second operator.
func MovesMoney(topic string) bool {
	return topic == jobs.TopicCycleFrozen || topic == jobs.TopicCycleNetted || topic == jobs.TopicCycleRecorded
}

// announces is the stage a cycle event says the cycle reached.
var announces = map[string]settlement.Stage{
	jobs.TopicCycleFrozen:     settlement.StageFrozen,
	jobs.TopicCycleNetted:     settlement.StageNetted,
	jobs.TopicCycleRecorded:   settlement.StageRecorded,
	jobs.TopicCycleSettled:    settlement.StageSettled,
	jobs.TopicCycleReconciled: settlement.StageReconciled,
	jobs.TopicCycleReported:   settlement.StageReported,
}

// RequestDeferral asks for a file's deferral; another operator approves.
func (a *Approver) RequestDeferral(ctx context.Context, d jobs.Deferral, by string, at time.Time) (approval.Request, error) {
	if a.Calendar != nil && d.From != "" {
		if d.To == "" {
			d.To = a.Calendar.Next(d.From)
		}
		if !a.Calendar.IsBusinessDay(d.To) {
			why := "a weekend"
			if name, ok := a.Calendar.Holiday(d.To); ok {
				why = "a holiday: " + name
			}
			return approval.Request{}, fmt.Errorf("%w: %s is not a business day (%s): no cycle runs then; the next business day is %s",
				jobs.ErrDeferral, d.To, why, a.Calendar.OnOrAfter(d.To))
		}
	}
	return a.Store.RequestDeferral(ctx, d, by, at)
}

// Decide records by's decision on request id and, approved, carries it out.
func (a *Approver) Decide(ctx context.Context, id int64, decision, by string, at time.Time) (approval.Request, error) {
	return a.Store.DecideRequestWith(ctx, id, decision, by, at, func(ctx context.Context, r approval.Request) error {
		switch r.Action {
		case approval.Defer:
			return a.carryOutDeferral(ctx, r, by)
		case approval.Replay:
			_, err := a.replay(ctx, r.Subject, by, r.ID, at)
			return err
		}
		return fmt.Errorf("%w: %q", approval.ErrUnknown, r.Action)
	})
}

func (a *Approver) carryOutDeferral(ctx context.Context, r approval.Request, by string) error {
	if a.Defer == nil {
		return fmt.Errorf("deferrals: %w", ErrUnavailable)
	}
	bic, fileID, ok := strings.Cut(r.Subject, "/")
	if !ok {
		return fmt.Errorf("request %d: subject %q is not BIC/FILE-ID", r.ID, r.Subject)
	}
	actor := r.RequestedBy + ", approved by " + by + " (request " + strconv.FormatInt(r.ID, 10) + ")"
	_, err := a.Defer(ctx, jobs.Deferral{Sender: settlement.BIC(bic), FileID: fileID, From: settlement.Date(r.From), To: settlement.Date(r.To),
		Reason: r.Note, Actor: actor})
	return err
}

// ReplayResult says what a replay did: published now, or waiting for a
// second operator (Request set).
type ReplayResult struct {
	Event   jobs.Event
	Request *approval.Request
}

// Replay replays a poisoned message: at once when its handler moves no
// money, else as a request another operator approves (Decide). A message
// is replayed at most once, and an event whose cycle has moved past the
// stage it announces is refused (its step has run since).
func (a *Approver) Replay(ctx context.Context, uuid, note, by string, at time.Time) (ReplayResult, error) {
	p, err := a.poisoned(ctx, uuid)
	if err != nil {
		return ReplayResult{}, err
	}
	if err := a.fresh(ctx, p.Event); err != nil {
		return ReplayResult{}, err
	}
	if MovesMoney(p.Event.Topic) {
		q, err := a.Store.RequestReplay(ctx, uuid, note, by, at)
		if err != nil {
			return ReplayResult{Event: p.Event}, err
		}
		return ReplayResult{Event: p.Event, Request: &q}, nil
	}
	e, err := a.replay(ctx, uuid, by, 0, at)
	return ReplayResult{Event: e}, err
}

func (a *Approver) poisoned(ctx context.Context, uuid string) (jobs.Poisoned, error) {
	if a.Poison == nil {
		return jobs.Poisoned{}, fmt.Errorf("the poison queue: %w", ErrUnavailable)
	}
	ps, err := a.Poison.ListPoisoned(ctx)
	if err != nil {
		return jobs.Poisoned{}, err
	}
	for _, p := range ps {
		if p.UUID == uuid {
			if p.Event.Topic == "" {
				return p, fmt.Errorf("poisoned message %s has no readable event: nothing to replay", uuid)
			}
			return p, nil
		}
	}
	return jobs.Poisoned{}, fmt.Errorf("%w: %s", ErrNoPoison, cutName(uuid))
}

// fresh refuses a cycle event whose cycle is no longer at the stage it
// announces: the step it triggers has run (or the cycle was held and run
// again by hand), and replaying it would only repeat a finished step.
func (a *Approver) fresh(ctx context.Context, e jobs.Event) error {
	st, ok := announces[e.Topic]
	if !ok {
		return nil
	}
	c, found, err := a.Store.Cycle(ctx, e.Date)
	if err != nil {
		return err
	}
	if !found {
		return fmt.Errorf("%w: no cycle for %s", ErrStaleReplay, e.Date)
	}
	if c.Stage != st {
		return fmt.Errorf("%w: the event says %s reached %s, and it is %s now", ErrStaleReplay, c.ID, st, c.Stage)
	}
	return nil
}

func (a *Approver) replay(ctx context.Context, uuid, by string, requestID int64, at time.Time) (jobs.Event, error) {
	p, err := a.poisoned(ctx, uuid)
	if err != nil {
		return jobs.Event{}, err
	}
	if err := a.fresh(ctx, p.Event); err != nil {
		return p.Event, err
	}
	err = a.Store.RecordReplay(ctx, postgres.PoisonReplay{UUID: uuid, Topic: p.Event.Topic, Cycle: p.Event.Cycle, By: by, RequestID: requestID, At: at},
		func(ctx context.Context, tx *sql.Tx) error { return a.Poison.PublishTx(ctx, tx, p.Event) })
	return p.Event, err
}
