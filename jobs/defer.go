package jobs

import (
	"context"
	"encoding/json"
	"fmt"
	"time"

	"settle/settlement"
)

// Deferral asks for one accepted file to settle in a later cycle than the
// one it was accepted into: the treasury's answer to a bank over its net
// debit cap that cannot fund tonight. Nothing is edited: the deferral is
// recorded beside the file, the cycle is netted again without it, and the
// bank finds a notice in its outbox.
type Deferral struct {
	Sender settlement.BIC
	FileID string
	From   settlement.Date // the cycle it is in now
	// To is a later cycle, still open; or an earlier one not netted yet,
	// not before the file's own, to correct a deferral made by mistake.
	To     settlement.Date
	Reason string
	Actor  string
}

// DeferredFile is what was deferred.
type DeferredFile struct {
	Name    string
	SHA256  string
	Entries int64
	At      time.Time
	// Move counts the file's deferrals, this one included (1 for its
	// first), moves back included.
	Move int
	// OutboxBase is what the file's outbox names start with, as its
	// acknowledgement's (SettlementFile.OutboxBase); "" : Name.
	OutboxBase string
}

// Check refuses a deferral whose fields cannot be right, whatever the
// cycles hold: a reason of 1 to deferReasonMax bytes, a file id, both
// cycles, and two different ones. A four-eyes request is checked by it when
// it is made, and the deferral again when it is carried out.
func (d Deferral) Check() error {
	switch {
	case d.Reason == "" || len(d.Reason) > deferReasonMax:
		return fmt.Errorf("%w: a reason of 1 to %d bytes is required", ErrDeferral, deferReasonMax)
	case !settlement.ValidPaymentID([]byte(d.FileID)):
		return fmt.Errorf("%w: %q is not a file id", ErrDeferral, d.FileID)
	case d.From == "" || d.To == "":
		return fmt.Errorf("%w: both cycles are required", ErrDeferral)
	case d.To == d.From:
		return fmt.Errorf("%w: to %s: the file is in that cycle already", ErrDeferral, d.To)
	}
	return nil
}

// Limits of a deferral's free text.
const (
	deferReasonMax = 500
	deferActorMax  = 200
)

// ErrDeferral: the deferral is not possible as asked; the message says why.
var ErrDeferral = settlement.ErrDeferral

// DeferralNoticeName is the bank's outbox notice of a file's first
// deferral.
func DeferralNoticeName(file string) string { return file + ".deferred.json" }

// NoticeName is the outbox name of the notice of deferral f: the first
// move of a file is told in <file>.deferred.json, its n-th (a deferral
// again, or a move back) in <file>.<n>.deferred.json, so that no notice
// replaces another. <file> is the base of the file's acknowledgement, as
// for its confirmations.
func (f DeferredFile) NoticeName() string {
	base := f.OutboxBase
	if base == "" {
		base = f.Name
	}
	if f.Move <= 1 {
		return DeferralNoticeName(base)
	}
	return DeferralNoticeName(fmt.Sprintf("%s.%d", base, f.Move))
}

// DeferralNotice is the body of that notice.
type DeferralNotice struct {
	File       string `json:"file"`
	FileID     string `json:"file_id"`
	SHA256     string `json:"sha256"`
	Entries    int64  `json:"entries"`
	FromCycle  string `json:"from_cycle"`
	ToCycle    string `json:"to_cycle"`
	Reason     string `json:"reason"`
	DeferredAt string `json:"deferred_at"`
}

// Defer moves a file to a later cycle, under the same locks as the cycles'
// steps, so that no netting of either runs meanwhile. The cycle must not be
// netted yet (a cap breach leaves it frozen): nothing of it is on the
// ledger. A re-run of the cycle then nets it without the file. A move back
// to an earlier cycle corrects a deferral: it is recorded the same way.
func (p *Pipeline) Defer(ctx context.Context, d Deferral) (DeferredFile, error) {
	if d.Actor == "" || len(d.Actor) > deferActorMax {
		return DeferredFile{}, fmt.Errorf("%w: who defers it (1 to %d bytes) is required", ErrDeferral, deferActorMax)
	}
	if err := d.Check(); err != nil {
		return DeferredFile{}, err
	}
	// Both cycles, in date order: a move back changes the earlier one's
	// files, so no netting of either may run meanwhile.
	first, second := min(d.From, d.To), max(d.From, d.To)
	unlock, err := p.lock(ctx, first)
	if err != nil {
		return DeferredFile{}, err
	}
	defer unlock()
	unlock2, err := p.lock(ctx, second)
	if err != nil {
		return DeferredFile{}, err
	}
	defer unlock2()
	f, err := p.Store.DeferFile(ctx, d)
	if err != nil {
		return f, err
	}
	p.log().Warn("file deferred", "bank", d.Sender, "file_id", d.FileID, "from", settlement.CycleID(d.From),
		"to", settlement.CycleID(d.To), "entries", f.Entries, "by", d.Actor, "reason", d.Reason)
	if p.Outbox != nil {
		body, _ := json.MarshalIndent(DeferralNotice{File: f.Name, FileID: d.FileID, SHA256: f.SHA256, Entries: f.Entries,
			FromCycle: settlement.CycleID(d.From), ToCycle: settlement.CycleID(d.To), Reason: d.Reason,
			DeferredAt: f.At.UTC().Format(time.RFC3339)}, "", "  ")
		if err := p.Outbox.Put(ctx, d.Sender, f.NoticeName(), append(body, '\n')); err != nil {
			// Recorded already; the notice can be written again by hand.
			return f, fmt.Errorf("deferred, but the bank's notice was not written: %w", err)
		}
	}
	return f, nil
}
