package jobs

import (
	"cmp"
	"context"
	"fmt"
	"io"
	"log/slog"
	"maps"
	"slices"
	"strings"

	"settle/settlement"
)

// BankInbox is an Inbox that is also the Outbox of the banks it serves:
// it takes files from disk too (statements) and removes what the scheme
// wrote (a retired key's PEM).
type BankInbox interface {
	Inbox
	Outbox
	FileOutbox
	OutboxRemover
}

// Inboxes reads several inboxes as one: the built-in server's storage,
// where any bank may upload, and a pull from the own SFTP servers of the
// banks that keep their files at home. A file remembers the inbox that
// listed it (InboxFile.Via), so its acknowledgement goes back there; a
// bank's other reports go to its own server when it has one.
//
// A bank's server that cannot be reached does not stop the others: its
// files are listed at the next collection, and the failure is logged.
type Inboxes struct {
	Local  BankInbox
	Remote map[settlement.BIC]BankInbox
	Log    *slog.Logger
	// OnRemoteError, if set, is told of each bank's server that could not
	// be listed (a metric, an alert).
	OnRemoteError func(bank settlement.BIC, err error)
}

var _ BankInbox = (*Inboxes)(nil)

const viaRemote = "remote:"

// List lists every inbox, the local one first, and returns the files
// oldest first, at most limit of them when limit > 0.
func (m *Inboxes) List(ctx context.Context, limit int) ([]InboxFile, error) {
	out, err := m.Local.List(ctx, limit)
	if err != nil {
		return nil, err
	}
	for _, bic := range slices.Sorted(maps.Keys(m.Remote)) {
		fs, err := m.Remote[bic].List(ctx, limit)
		if err != nil {
			if ctx.Err() != nil {
				return nil, ctx.Err()
			}
			m.log().Warn("bank's SFTP server not collected; its files wait for the next pass", "bank", bic, "err", err.Error())
			if m.OnRemoteError != nil {
				m.OnRemoteError(bic, err)
			}
			continue
		}
		for _, f := range fs {
			if f.Bank != bic {
				m.log().Error("a bank's server listed another bank's file; skipped", "server_of", bic, "file_bank", f.Bank, "file", f.Name)
				continue
			}
			f.Via = viaRemote + string(bic)
			out = append(out, f)
		}
	}
	slices.SortStableFunc(out, func(a, b InboxFile) int {
		return cmp.Or(a.ModTime.Compare(b.ModTime), strings.Compare(string(a.Bank), string(b.Bank)), strings.Compare(a.Name, b.Name))
	})
	if limit > 0 && len(out) > limit {
		out = out[:limit]
	}
	return out, nil
}

// pick is the inbox that listed f.
func (m *Inboxes) pick(f InboxFile) (BankInbox, error) {
	if f.Via == "" {
		return m.Local, nil
	}
	bic, ok := strings.CutPrefix(f.Via, viaRemote)
	in, known := m.Remote[settlement.BIC(bic)]
	if !ok || !known || settlement.BIC(bic) != f.Bank {
		return nil, fmt.Errorf("file %s of %s: no inbox %q", f.Name, f.Bank, f.Via)
	}
	return in, nil
}

// Open reads the payment file from the inbox that listed it.
func (m *Inboxes) Open(ctx context.Context, f InboxFile) (io.ReadCloser, error) {
	in, err := m.pick(f)
	if err != nil {
		return nil, err
	}
	return in.Open(ctx, f)
}

// OpenSig reads the signature from the inbox that listed the file.
func (m *Inboxes) OpenSig(ctx context.Context, f InboxFile) (io.ReadCloser, error) {
	in, err := m.pick(f)
	if err != nil {
		return nil, err
	}
	return in.OpenSig(ctx, f)
}

// Ack writes the acknowledgement where the file came from.
func (m *Inboxes) Ack(ctx context.Context, f InboxFile, name string, body []byte) error {
	in, err := m.pick(f)
	if err != nil {
		return err
	}
	return in.Ack(ctx, f, name, body)
}

// Done marks the file taken in the inbox that listed it.
func (m *Inboxes) Done(ctx context.Context, f InboxFile) error {
	in, err := m.pick(f)
	if err != nil {
		return err
	}
	return in.Done(ctx, f)
}

// Put writes a report to the bank's own server if it has one, else to its
// tree on the built-in server.
func (m *Inboxes) Put(ctx context.Context, bank settlement.BIC, name string, body []byte) error {
	if in, ok := m.Remote[bank]; ok {
		return in.Put(ctx, bank, name, body)
	}
	return m.Local.Put(ctx, bank, name, body)
}

func (m *Inboxes) log() *slog.Logger {
	if m.Log != nil {
		return m.Log
	}
	return slog.Default()
}
