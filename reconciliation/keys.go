package reconciliation

import (
	"sort"
	"strings"

	"settle/settlement"
)

// KeyMismatch is a file-signing key on which Postgres's key ring and the
// ledger's disagree: present in one only, another public key under the same
// label, or active in one and revoked in the other. Intake verifies with
// Postgres's keys and the ledger with its own, so a disagreement means a file
// one accepts the other refuses (or, worse, accepts what the bank never signed).
const KeyMismatch Kind = "KEY_MISMATCH"

// SigningKey is one bank's key under a label as one side holds it.
type SigningKey struct {
	Bank   settlement.BIC
	Label  string
	PEM    string
	Active bool
}

// Keys compares the key rings; both sides list every key they know of, revoked
// ones included. Breaks are in (bank, label) order; Cycle is "keys".
func Keys(store, ledger []SigningKey) []Break {
	type pair struct{ s, l *SigningKey }
	by := map[string]*pair{}
	for i := range store {
		k := &store[i]
		by[string(k.Bank)+"/"+k.Label] = &pair{s: k}
	}
	for i := range ledger {
		k := &ledger[i]
		id := string(k.Bank) + "/" + k.Label
		if p, ok := by[id]; ok {
			p.l = k
		} else {
			by[id] = &pair{l: k}
		}
	}
	ids := make([]string, 0, len(by))
	for id := range by {
		ids = append(ids, id)
	}
	sort.Strings(ids)
	state := func(k *SigningKey) string {
		if k == nil {
			return ""
		}
		if k.Active {
			return "active"
		}
		return "revoked"
	}
	var out []Break
	for _, id := range ids {
		p := by[id]
		b := Break{Kind: KeyMismatch, Cycle: "keys", Subject: id}
		switch {
		case p.s == nil || p.l == nil:
			// A revoked key only one side ever had signs nothing on either.
			if (p.s != nil && !p.s.Active) || (p.l != nil && !p.l.Active) {
				continue
			}
			b.Field, b.Store, b.Ledger = "key", state(p.s), state(p.l)
		case strings.TrimSpace(p.s.PEM) != strings.TrimSpace(p.l.PEM):
			b.Field, b.Store, b.Ledger = "pem", "another public key", "another public key"
		case p.s.Active != p.l.Active:
			b.Field, b.Store, b.Ledger = "status", state(p.s), state(p.l)
		default:
			continue
		}
		out = append(out, b)
	}
	return out
}
