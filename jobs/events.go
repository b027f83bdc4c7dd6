package jobs

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"time"

	"settle/settlement"
)

// Topics of the events the stages hand each other. An event says that a
// stage finished for a cycle; its handler runs the next stage.
const (
	TopicCycleFrozen     = "settle.cycle.frozen"
	TopicCycleNetted     = "settle.cycle.netted"
	TopicCycleRecorded   = "settle.cycle.recorded"
	TopicCycleSettled    = "settle.cycle.settled"
	TopicCycleReconciled = "settle.cycle.reconciled"
	TopicCycleReported   = "settle.cycle.reported"
	TopicFileTaken       = "settle.file.taken"
	// TopicCycleHeld says an attempt at a stage failed on something only
	// an operator can change (NeedsOperator). It is written with the
	// failed attempt, whoever made it, so the hold is reported once.
	TopicCycleHeld = "settle.cycle.held"
)

// Topics lists the cycle topics a pipeline subscribes to.
var Topics = []string{TopicCycleFrozen, TopicCycleNetted, TopicCycleRecorded, TopicCycleSettled, TopicCycleReconciled, TopicCycleHeld}

// Event is what one stage tells the next. Its ID is derived from its
// content, so the same step announced twice (a resumed run) carries the
// same ID and a consumer can tell.
type Event struct {
	ID    string          `json:"id"`
	Topic string          `json:"topic"`
	Date  settlement.Date `json:"business_date"`
	Cycle string          `json:"cycle"`
	At    time.Time       `json:"at"`
	Note  string          `json:"note,omitempty"`
	// Stage and By, on a held event: the stage the failed attempt was
	// to reach, and who made it.
	Stage settlement.Stage `json:"stage,omitempty"`
	By    string           `json:"by,omitempty"`
}

// NewEvent makes the event that announces a stage of a cycle.
func NewEvent(topic string, date settlement.Date, at time.Time) Event {
	sum := sha256.Sum256([]byte(topic + "|" + string(date)))
	return Event{ID: hex.EncodeToString(sum[:16]), Topic: topic, Date: date, Cycle: settlement.CycleID(date), At: at.UTC()}
}

// HeldEvent announces the hold recorded as failed attempt row of the
// cycle of date: its ID names that attempt, so a redelivery is the same
// event and another hold is another event.
func HeldEvent(date settlement.Date, to settlement.Stage, row int64, cause, by string, at time.Time) Event {
	sum := sha256.Sum256([]byte(fmt.Sprintf("%s|%s|%d", TopicCycleHeld, date, row)))
	return Event{ID: hex.EncodeToString(sum[:16]), Topic: TopicCycleHeld, Date: date, Cycle: settlement.CycleID(date),
		At: at.UTC(), Note: cause, Stage: to, By: by}
}

// Payload is the event's wire form.
func (e Event) Payload() []byte {
	b, _ := json.Marshal(e)
	return b
}

// ParseEvent reads an event's wire form.
func ParseEvent(b []byte) (Event, error) {
	var e Event
	err := json.Unmarshal(b, &e)
	if err == nil {
		_, err = settlement.ParseDate(string(e.Date))
	}
	return e, err
}

// stageTopic is the event that announces a cycle reached a stage.
var stageTopic = map[settlement.Stage]string{
	settlement.StageFrozen:     TopicCycleFrozen,
	settlement.StageNetted:     TopicCycleNetted,
	settlement.StageRecorded:   TopicCycleRecorded,
	settlement.StageSettled:    TopicCycleSettled,
	settlement.StageReconciled: TopicCycleReconciled,
	settlement.StageReported:   TopicCycleReported,
}

// topicStage is the stage a topic announces.
func topicStage(topic string) (settlement.Stage, bool) {
	for s, t := range stageTopic {
		if t == topic {
			return s, true
		}
	}
	return "", false
}

// Handler is what the broker adapter calls for each delivered event.
type Handler func(ctx context.Context, e Event) error

// NeedsOperator tells whether a step failed on something a retry cannot
// change: a bank over its net debit cap, a reversal whose original has not
// settled, a bank the ledger does not know, content the ledger refused, or
// a write without a majority's
// endorsement. The cycle stays where it stopped, with the failure
// recorded, until an operator acts and runs it again (cycle run).
func NeedsOperator(err error) bool {
	return errors.Is(err, ErrCapBreach) || errors.Is(err, ErrOriginalPending) || errors.Is(err, ErrNotOnLedger) ||
		errors.Is(err, ErrLedgerRefused) || errors.Is(err, ErrEndorsementPolicy) || errors.Is(err, ErrHeld)
}

// HoldForOperator wraps an event handler so that a step that needs an
// operator does not go round the broker's retries into the poison queue:
// the event is acknowledged and left is told. The cycle itself holds the
// state: it stays at its stage with the held attempt recorded (announced
// on TopicCycleHeld, which is where the hold is reported), and `cycle run`
// carries it on once the operator has acted. Any other error goes back to
// the broker to be retried.
func HoldForOperator(h Handler, left func(Event, error)) Handler {
	return func(ctx context.Context, e Event) error {
		err := h(ctx, e)
		if err != nil && NeedsOperator(err) {
			if left != nil {
				left(e, err)
			}
			return nil
		}
		return err
	}
}

// Poisoned is an event that went to the event bus's poison queue: its
// handler kept failing.
type Poisoned struct {
	Offset int64     `json:"offset"`
	UUID   string    `json:"uuid"`
	At     time.Time `json:"at"`
	Topic  string    `json:"topic"`
	Reason string    `json:"reason"`
	Event  Event     `json:"event"`
}
