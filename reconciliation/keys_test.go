package reconciliation

import "testing"

func TestKeysDisagreementsAreBreaks(t *testing.T) {
	store := []SigningKey{
		{Bank: "AAAAKRSE", Label: "k1", PEM: "P1", Active: true},
		{Bank: "AAAAKRSE", Label: "k2", PEM: "P2", Active: false}, // revoked here, active on the ledger
		{Bank: "BBBBKRSE", Label: "k1", PEM: "P3", Active: true},  // not on the ledger
		{Bank: "CCCCKRSE", Label: "k1", PEM: "P4", Active: true},  // another key on the ledger
		{Bank: "DDDDKRSE", Label: "old", PEM: "P5", Active: false},
	}
	ledger := []SigningKey{
		{Bank: "AAAAKRSE", Label: "k1", PEM: "P1\n", Active: true},
		{Bank: "AAAAKRSE", Label: "k2", PEM: "P2", Active: true},
		{Bank: "CCCCKRSE", Label: "k1", PEM: "P9", Active: true},
		{Bank: "EEEEKRSE", Label: "x", PEM: "P6", Active: true}, // only on the ledger
	}
	got := Keys(store, ledger)
	want := []string{"AAAAKRSE/k2 status", "BBBBKRSE/k1 key", "CCCCKRSE/k1 pem", "EEEEKRSE/x key"}
	if len(got) != len(want) {
		t.Fatalf("breaks %v, want %v", got, want)
	}
	for i, b := range got {
		if b.Kind != KeyMismatch || b.Subject+" "+b.Field != want[i] {
			t.Errorf("break %d: %v, want %s", i, b, want[i])
		}
	}
	if len(Keys(store[:1], ledger[:1])) != 0 {
		t.Error("agreeing rings give breaks")
	}
}
