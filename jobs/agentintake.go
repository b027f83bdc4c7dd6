package jobs

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"strings"
	"time"

	"settle/formats"
	"settle/formats/agentcamt"
	"settle/intake"
	"settle/reconciliation"
	"settle/settlement"
	"settle/signature"
)

// WithoutBank is an inbox that does not list one participant's files: the
// payment intake's view of a tree the settlement agent shares with the
// banks (the agent's answers are not payment files; AgentIntake takes
// them).
type WithoutBank struct {
	BankInbox
	Bank settlement.BIC
}

// List lists every file but the participant's.
func (w WithoutBank) List(ctx context.Context, limit int) ([]InboxFile, error) {
	fs, err := w.BankInbox.List(ctx, 0)
	if err != nil {
		return nil, err
	}
	out := fs[:0]
	for _, f := range fs {
		if f.Bank != w.Bank {
			out = append(out, f)
		}
	}
	if limit > 0 && len(out) > limit {
		out = out[:limit]
	}
	return out, nil
}

// Reconciler re-runs a settled cycle's reconciliation and records it.
type Reconciler interface {
	Reconciled(ctx context.Context, date settlement.Date, plan reconciliation.Plan, sum reconciliation.Summary) error
}

// AgentIntake takes the settlement agent's answers from its inbox: each
// file, complete with its .sig, must be signed by one of the agent's
// registered keys and be a camt.054.001.08 or camt.053.001.08 that reads
// without a problem; it is then recorded whole with its bookings, the
// agent gets an acknowledgement like a bank's, and every settled cycle
// the agent has not yet confirmed is reconciled again.
type AgentIntake struct {
	Agent    settlement.BIC
	Inbox    BankInbox
	Keys     func() (signature.Ring, error) // the agent's registered public keys
	Store    AgentStore
	Recorder Reconciler
	Pipeline *Pipeline
	Limits   formats.Limits
	Now      func() time.Time
	Log      *slog.Logger
}

// agentFileBytesMax bounds one answer: a cycle has one instruction per
// bank and currency, a few hundred entries at most.
const agentFileBytesMax = 64 << 20

// agentEntriesMax bounds the entries of one answer.
const agentEntriesMax = 100_000

// Collect takes the agent's files waiting now and returns how many were
// taken.
func (a *AgentIntake) Collect(ctx context.Context) (int, error) {
	fs, err := a.Inbox.List(ctx, 0)
	if err != nil {
		return 0, err
	}
	taken := 0
	for _, f := range fs {
		if f.Bank != a.Agent {
			continue
		}
		if err := a.take(ctx, f); err != nil {
			return taken, fmt.Errorf("%s: %w", f.Name, err)
		}
		taken++
	}
	if taken > 0 {
		if err := a.reconcileUnconfirmed(ctx); err != nil {
			return taken, err
		}
	}
	return taken, nil
}

func (a *AgentIntake) now() time.Time {
	if a.Now != nil {
		return a.Now()
	}
	return time.Now()
}

func (a *AgentIntake) log() *slog.Logger {
	if a.Log != nil {
		return a.Log
	}
	return slog.Default()
}

// take reads one answer of the agent (a camt.054 or camt.053 with its
// detached signature): it checks the agent's signature over all of its
// bytes, records its bookings unless something is wrong with it or the
// same bytes came before, and acknowledges it in the agent's inbox.
func (a *AgentIntake) take(ctx context.Context, f InboxFile) error {
	received := a.now()
	read, err := a.read(ctx, f)
	if err != nil {
		return err
	}
	problems, bookings := read.problems, read.bookings
	status := intake.Accepted
	if len(problems) > 0 {
		status, bookings = intake.Rejected, nil
	} else {
		dup, err := a.Store.SaveAgentAnswer(ctx, AgentAnswer{Agent: a.Agent, Name: f.Name, SHA256: read.sum, Message: read.ans.Message, MsgID: read.ans.MsgID,
			SignatureKey: string(read.key.Bank) + "/" + read.key.Label, ReceivedAt: received}, bookings)
		if err != nil {
			return err
		}
		if dup {
			status = intake.Rejected
			problems = []settlement.Problem{{Code: settlement.CodeDuplicateFile, Message: "the same bytes were received before"}}
		}
	}
	ack := intake.Ack{File: f.Name, FileID: read.ans.MsgID, SHA256: read.sum, Status: status, ReceivedAt: received.Format(time.RFC3339),
		Entries: int64(len(bookings)), ControlSum: "0", Errors: problems}
	if ack.Errors == nil {
		ack.Errors = []settlement.Problem{}
	}
	body, err := json.MarshalIndent(ack, "", "  ")
	if err != nil {
		return err
	}
	if err := a.Inbox.Ack(ctx, f, intake.AckName(f.Name), append(body, '\n')); err != nil {
		return err
	}
	a.log().Info("agent answer taken", "agent", a.Agent, "file", f.Name, "status", status, "bookings", len(bookings), "problems", len(problems))
	return a.Inbox.Done(ctx, f)
}

// agentRead is one answer of the agent as read: what it says, its bookings,
// its SHA-256, the key that signed it, and everything wrong with it.
type agentRead struct {
	ans      agentcamt.Answer
	bookings []AgentBooking
	sum      string
	key      signature.Key
	problems []settlement.Problem
}

// read parses an answer and verifies the agent's detached signature over
// the same bytes in the same pass (what the reader leaves unread is signed
// too). An error is only for the inbox or the key ring failing.
func (a *AgentIntake) read(ctx context.Context, f InboxFile) (agentRead, error) {
	var out agentRead
	sc, err := a.Inbox.OpenSig(ctx, f)
	if err != nil {
		return out, err
	}
	sigFile, err := io.ReadAll(io.LimitReader(sc, signature.SigBytesMax+1))
	sc.Close()
	if err != nil {
		return out, err
	}
	ring, err := a.Keys()
	if err != nil {
		return out, err
	}
	rc, err := a.Inbox.Open(ctx, f)
	if err != nil {
		return out, err
	}
	defer rc.Close()
	h := sha256.New()
	v := signature.NewVerifier()
	sig, sigErr := signature.DecodeSig(sigFile)
	if sigErr == nil {
		v.Begin(ring.Keys(a.Agent), sig)
	}
	lim := a.Limits
	lim.FileBytesMax, lim.RecordsMax = agentFileBytesMax, agentEntriesMax
	ans, ps, err := agentcamt.Read(io.TeeReader(rc, io.MultiWriter(h, v)), lim, func(b agentcamt.Booking) {
		out.bookings = append(out.bookings, AgentBooking{Line: b.Line, Account: b.Account, Booking: reconciliation.Booking{
			Source: f.Name + ":" + fmt.Sprint(b.Line), EndToEndID: b.EndToEndID, UETR: b.UETR, Amount: b.Amount, Currency: b.Currency,
			Credit: b.Credit, ValueDate: b.ValueDate, Status: b.Status, Rejected: b.Rejected, Reversal: b.Reversal}})
	})
	if err != nil {
		return out, err
	}
	io.Copy(io.MultiWriter(h, v), rc) // what the reader left unread is signed too
	out.ans, out.problems = ans, ps
	switch {
	case sigErr != nil:
		out.problems = append(out.problems, settlement.Problem{Code: settlement.CodeSignatureMalform, Message: sigErr.Error()})
	default:
		if out.key, err = v.Verify(); err != nil {
			code := settlement.CodeSignatureInvalid
			if len(ring.Keys(a.Agent)) == 0 {
				code = settlement.CodeSignatureNoKey
			}
			out.problems = append(out.problems, settlement.Problem{Code: code, Message: err.Error()})
		}
	}
	out.sum = hex.EncodeToString(h.Sum(nil))
	return out, nil
}

// reconcileUnconfirmed reconciles again every settled cycle the agent
// has not wholly confirmed: an answer may name any of them (a UETR alone
// does not say its cycle).
func (a *AgentIntake) reconcileUnconfirmed(ctx context.Context) error {
	cs, err := a.Store.Unconfirmed(ctx, a.now())
	if err != nil {
		return err
	}
	for _, c := range cs {
		found, plan, sum, err := a.Pipeline.Reconcile(ctx, c.Date)
		if err != nil {
			return fmt.Errorf("reconcile %s: %w", c.Date, err)
		}
		if err := a.Recorder.Reconciled(ctx, c.Date, plan, sum); err != nil {
			return err
		}
		if sum.Agent != nil {
			kinds := make([]string, 0, len(found))
			for _, b := range found {
				kinds = append(kinds, string(b.Kind))
			}
			a.log().Info("cycle reconciled with the agent's answers", "cycle", settlement.CycleID(c.Date), "agent", sum.Agent.Status,
				"confirmed", sum.Agent.Confirmed, "instructions", sum.Agent.Instructions, "breaks", strings.Join(kinds, ","))
		}
	}
	return nil
}
