package jobs

import (
	"bytes"
	"context"
	"encoding/hex"
	"fmt"

	"settle/intake"
	"settle/reconciliation"
	"settle/settlement"
	"settle/signature"
)

// LedgerFileRecord is a declared file as the ledger holds it (GetDeclared).
type LedgerFileRecord struct {
	Sender     settlement.BIC
	FileID     string
	Format     string // "csv", "pacs.008", "pacs.007" or "xml"
	SHA256     string
	Entries    int64
	ControlSum string
	Status     string // "verified", "dropped", ...
	Parts      int
	KeyLabel   string // the key that verified it
	TxID       string // the transaction that verified it (it carries the .sig)
}

// LedgerArchive is the ledger as the only source an auditor trusts: the
// declared files, their exact bytes (GetFilePart), each file's detached
// signature read from the block of the transaction that verified it, and
// the banks' keys as their admins registered them there.
type LedgerArchive interface {
	DeclaredFiles(ctx context.Context, cycle string) ([]LedgerFileRecord, bool, error)
	FileBytes(ctx context.Context, cycle string, sender settlement.BIC, fileID string, parts int) ([]byte, error)
	FileSignature(ctx context.Context, txID string) ([]byte, error)
	KeyPEM(ctx context.Context, bank settlement.BIC, label string) (string, bool, error)
	Members(ctx context.Context) (map[settlement.BIC]bool, error)
	Cycle(ctx context.Context, cycle string) (LedgerCycle, bool, error)
	// The ledger's gridlock resolution records, applied to the re-netting.
	DeferralReader
}

// VerifyLedgerOnly re-verifies a governed cycle from the ledger alone, with
// neither Postgres nor the archive: every verified file's signature over the
// bytes in the blocks, with the key its bank registered on the ledger, the
// service's rules (intake.Check, as the chaincode runs them), the netting of
// those files, and the positions the ledger settled.
func VerifyLedgerOnly(ctx context.Context, l LedgerArchive, date settlement.Date) (*VerifyReport, error) {
	rep := &VerifyReport{Cycle: settlement.CycleID(date), Problems: []string{}, Breaks: []reconciliation.Break{}}
	files, ok, err := l.DeclaredFiles(ctx, rep.Cycle)
	if err != nil {
		return nil, err
	}
	if !ok {
		return nil, fmt.Errorf("cycle %s is not declared on the ledger (a legacy cycle has no files there to verify)", rep.Cycle)
	}
	members, err := l.Members(ctx)
	if err != nil {
		return nil, err
	}
	var n settlement.Netting
	for _, f := range files {
		if f.Status != "verified" {
			if f.Status != "dropped" {
				rep.Problems = append(rep.Problems, fmt.Sprintf("%s/%s: %s on the ledger, not verified", f.Sender, f.FileID, f.Status))
			}
			continue
		}
		res, err := verifyFromLedger(ctx, l, rep.Cycle, f, members)
		if err != nil {
			rep.Problems = append(rep.Problems, fmt.Sprintf("%s/%s: %v", f.Sender, f.FileID, err))
			continue
		}
		rep.Files++
		rep.Entries += res.Entries
		if !res.Accepted() {
			p := res.Problems[0]
			rep.Problems = append(rep.Problems, fmt.Sprintf("%s/%s: not accepted from the ledger's bytes: line %d %s %s", f.Sender, f.FileID, p.Line, p.Code, p.Message))
			continue
		}
		if res.Entries != f.Entries || res.KeyLabel != f.KeyLabel || res.FileID != f.FileID || res.Sender != f.Sender {
			rep.Problems = append(rep.Problems, fmt.Sprintf("%s/%s: the bytes say file %s of %s, %d entries, key %q; the ledger recorded %d entries, key %q",
				f.Sender, f.FileID, res.FileID, res.Sender, res.Entries, res.KeyLabel, f.Entries, f.KeyLabel))
		}
		if err := n.Merge(res.Netting()); err != nil {
			return nil, err
		}
	}
	net, err := n.Result()
	if err != nil {
		return nil, err
	}
	rep.Positions = net.Positions
	lc, ok, err := l.Cycle(ctx, rep.Cycle)
	if err != nil {
		return nil, err
	}
	if !ok || !lc.Settled() {
		rep.Problems = append(rep.Problems, fmt.Sprintf("cycle %s is not settled on the ledger", rep.Cycle))
	}
	re, deferred, carried, problems, err := ledgerSplit(ctx, l, rep.Cycle, net.Positions)
	if err != nil {
		return nil, err
	}
	rep.Deferred, rep.CarriedIn = deferred, carried
	rep.Problems = append(rep.Problems, problems...)
	for _, b := range reconciliation.Positions(rep.Cycle, re, lc.Positions) {
		b.Field = "net (ledger's files vs ledger's settlement)"
		b.Store, b.Ledger = "re-netted "+b.Store, "settled "+b.Ledger
		rep.Breaks = append(rep.Breaks, b)
	}
	return rep, nil
}

func verifyFromLedger(ctx context.Context, l LedgerArchive, cycle string, f LedgerFileRecord, members map[settlement.BIC]bool) (*intake.Result, error) {
	body, err := l.FileBytes(ctx, cycle, f.Sender, f.FileID, f.Parts)
	if err != nil {
		return nil, err
	}
	sig, err := l.FileSignature(ctx, f.TxID)
	if err != nil {
		return nil, fmt.Errorf("signature from tx %s: %w", f.TxID, err)
	}
	pemText, ok, err := l.KeyPEM(ctx, f.Sender, f.KeyLabel)
	if err != nil {
		return nil, err
	}
	if !ok {
		return nil, fmt.Errorf("key %q is not on the ledger", f.KeyLabel)
	}
	pub, err := signature.ParsePublicKey([]byte(pemText))
	if err != nil {
		return nil, fmt.Errorf("key %q on the ledger: %w", f.KeyLabel, err)
	}
	ring := signature.Ring{}
	ring.Add(signature.Key{Bank: f.Sender, Label: f.KeyLabel, Public: pub})
	name := f.FileID + ".csv"
	if f.Format != "csv" {
		name = f.FileID + ".xml"
	}
	res, err := intake.Check(name, bytes.NewReader(body), intake.Sig{Present: true, Bytes: sig},
		intake.Options{Keys: ring, Uploader: f.Sender, Member: func(b settlement.BIC) bool { return members[b] }})
	if err != nil {
		return nil, err
	}
	if got := hex.EncodeToString(res.SHA256[:]); got != f.SHA256 {
		return nil, fmt.Errorf("the ledger's bytes hash to %s, declared %s", got, f.SHA256)
	}
	return res, nil
}
