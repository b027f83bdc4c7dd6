package jobs

import (
	"context"
	"fmt"

	"settle/settlement"
)

// Signer signs what the scheme writes into outboxes with the scheme's own
// key (adapters/schemekey): the returned bytes are the <file>.sig file.
type Signer interface {
	Sign(body []byte) ([]byte, error)
	SignFile(path string) ([]byte, error)
}

// FileOutbox delivers a file from disk into a bank's outbox, for files
// too large for memory (statements).
type FileOutbox interface {
	PutFile(ctx context.Context, bank settlement.BIC, name, path string) error
}

// OutboxRemover deletes a file the scheme wrote (a retired key's PEM).
type OutboxRemover interface {
	Remove(ctx context.Context, bank settlement.BIC, name string) error
}

// KeyOutbox is where PublishKeys writes the scheme's public keys and
// removes the retired ones.
type KeyOutbox interface {
	Outbox
	OutboxRemover
}

// SigName is the name of a file's detached signature.
func SigName(name string) string { return name + ".sig" }

// SignedInbox is a BankInbox whose every outbox file (acknowledgements,
// status reports, notices, reports, statements) is followed by its
// detached signature, as the contract says ("Files the scheme writes").
// The .sig is written last: as for banks' uploads, a file is complete
// once its .sig is there, so a bank never takes a file whose signature is
// still to come, and a failure between the two leaves a file a retry
// writes again.
type SignedInbox struct {
	BankInbox
	Signer Signer
}

var _ BankInbox = SignedInbox{}

// Ack writes the acknowledgement, then its signature.
func (s SignedInbox) Ack(ctx context.Context, f InboxFile, name string, body []byte) error {
	sig, err := s.Signer.Sign(body)
	if err != nil {
		return fmt.Errorf("sign %s: %w", name, err)
	}
	if err := s.BankInbox.Ack(ctx, f, name, body); err != nil {
		return err
	}
	return s.BankInbox.Ack(ctx, f, SigName(name), sig)
}

// Put writes a report, then its signature.
func (s SignedInbox) Put(ctx context.Context, bank settlement.BIC, name string, body []byte) error {
	sig, err := s.Signer.Sign(body)
	if err != nil {
		return fmt.Errorf("sign %s: %w", name, err)
	}
	if err := s.BankInbox.Put(ctx, bank, name, body); err != nil {
		return err
	}
	return s.BankInbox.Put(ctx, bank, SigName(name), sig)
}

// PutFile signs the file from disk (two passes, no copy in memory), then
// delivers it and its signature.
func (s SignedInbox) PutFile(ctx context.Context, bank settlement.BIC, name, path string) error {
	sig, err := s.Signer.SignFile(path)
	if err != nil {
		return fmt.Errorf("sign %s: %w", name, err)
	}
	if err := s.BankInbox.PutFile(ctx, bank, name, path); err != nil {
		return err
	}
	return s.BankInbox.Put(ctx, bank, SigName(name), sig)
}

// Remove deletes a file and its signature (the signature first: the file
// stops being complete before it goes).
func (s SignedInbox) Remove(ctx context.Context, bank settlement.BIC, name string) error {
	if err := s.BankInbox.Remove(ctx, bank, SigName(name)); err != nil {
		return err
	}
	return s.BankInbox.Remove(ctx, bank, name)
}

// PutFile routes a file from disk as Put routes bytes: to the bank's own
// server if it has one, else to the built-in server's tree.
func (m *Inboxes) PutFile(ctx context.Context, bank settlement.BIC, name, path string) error {
	if in, ok := m.Remote[bank]; ok {
		return in.PutFile(ctx, bank, name, path)
	}
	return m.Local.PutFile(ctx, bank, name, path)
}

// Remove deletes a file from the built-in server's tree (a bank's own
// server keeps what it was given: its operator removes it).
func (m *Inboxes) Remove(ctx context.Context, bank settlement.BIC, name string) error {
	if _, ok := m.Remote[bank]; ok {
		return nil
	}
	return m.Local.Remove(ctx, bank, name)
}

// PublicKey is one of the scheme's public keys as published.
type PublicKey struct {
	Label string
	PEM   []byte
}

// PublishKeys writes the scheme's published public keys into the outbox
// of each of banks as scheme.<label>.pem (each signed by the active key,
// so a bank that trusts the old key can trust a new one it is given
// during a rotation), and removes the PEMs of keys no longer published.
func PublishKeys(ctx context.Context, o KeyOutbox, banks []settlement.BIC, keys []PublicKey, retired []string) error {
	for _, b := range banks {
		for _, k := range keys {
			if err := o.Put(ctx, b, "scheme."+k.Label+".pem", k.PEM); err != nil {
				return fmt.Errorf("scheme key %s to %s: %w", k.Label, b, err)
			}
		}
		for _, l := range retired {
			if err := o.Remove(ctx, b, "scheme."+l+".pem"); err != nil {
				return fmt.Errorf("retired scheme key %s from %s: %w", l, b, err)
			}
		}
	}
	return nil
}
