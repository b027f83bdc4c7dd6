package postgres_test

import (
	"crypto/ecdsa"
	"crypto/ed25519"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/x509"
	"encoding/pem"
	"errors"
	"testing"
	"time"

	"github.com/shopspring/decimal"

	"settle/adapters/postgres"
	"settle/settlement"
)

func pubPEM(t *testing.T, k any) string {
	t.Helper()
	der, err := x509.MarshalPKIXPublicKey(k)
	if err != nil {
		t.Fatal(err)
	}
	return string(pem.EncodeToMemory(&pem.Block{Type: "PUBLIC KEY", Bytes: der}))
}

func TestBanksKeysCaps(t *testing.T) {
	f := newFixture(t)
	ctx := f.ctx
	s := f.s
	if err := s.AddBank(ctx, postgres.Bank{BIC: bankA, Name: "again"}); !errors.Is(err, postgres.ErrBankExists) {
		t.Fatalf("second add: %v", err)
	}
	edPub, _, _ := ed25519.GenerateKey(rand.Reader)
	ec, _ := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	ec384, _ := ecdsa.GenerateKey(elliptic.P384(), rand.Reader)
	now := time.Now()
	end := now.Add(time.Hour)
	if err := s.AddKey(ctx, postgres.BankKey{Bank: bankA, Label: "old", PEM: pubPEM(t, edPub), ValidFrom: now.Add(-48 * time.Hour), ValidTo: &end}); err != nil {
		t.Fatal(err)
	}
	if err := s.AddKey(ctx, postgres.BankKey{Bank: bankA, Label: "new", PEM: pubPEM(t, &ec.PublicKey)}); err != nil {
		t.Fatal(err)
	}
	if err := s.AddKey(ctx, postgres.BankKey{Bank: bankA, Label: "p384", PEM: pubPEM(t, &ec384.PublicKey)}); !errors.Is(err, postgres.ErrKey) {
		t.Fatalf("P-384: %v", err)
	}
	if err := s.AddKey(ctx, postgres.BankKey{Bank: "ZZZZKRSE", Label: "x", PEM: pubPEM(t, edPub)}); !errors.Is(err, postgres.ErrNoBank) {
		t.Fatalf("unknown bank: %v", err)
	}
	if err := s.AddKey(ctx, postgres.BankKey{Bank: bankA, Label: "new", PEM: pubPEM(t, edPub)}); !errors.Is(err, postgres.ErrKeyExists) {
		t.Fatalf("same label: %v", err)
	}
	keys, err := s.Keys(ctx, bankA, time.Now())
	if err != nil || len(keys) != 2 || keys[0].Label != "new" || keys[0].Type != postgres.KeyECDSAP256 || keys[1].Type != postgres.KeyEd25519 {
		t.Fatalf("keys during rotation: %+v %v", keys, err)
	}
	if keys, _ := s.Keys(ctx, bankA, end.Add(time.Minute)); len(keys) != 1 {
		t.Fatalf("after the old key's end: %+v", keys)
	}
	if err := s.RevokeKey(ctx, bankA, "old"); err != nil {
		t.Fatal(err)
	}
	if err := s.RevokeKey(ctx, bankA, "old"); !errors.Is(err, postgres.ErrNoKey) {
		t.Fatalf("second revoke: %v", err)
	}
	if keys, _ := s.Keys(ctx, bankA, time.Now().Add(time.Second)); len(keys) != 1 || keys[0].Label != "new" {
		t.Fatalf("after revoking: %+v", keys)
	}
	// A key's bytes never change, and a revocation stands.
	if _, err := s.DB().Exec(`UPDATE bank_keys SET pem = pem || ' ' WHERE label = 'new'`); !postgres.IsAppendOnly(err) {
		t.Fatalf("pem rewrite: %v", err)
	}
	if _, err := s.DB().Exec(`UPDATE bank_keys SET revoked_at = NULL WHERE label = 'old'`); !postgres.IsAppendOnly(err) {
		t.Fatalf("unrevoke: %v", err)
	}

	usd := mustCur("USD")
	for _, amt := range []string{"1000.00", "2000.5"} {
		if err := s.SetCap(ctx, settlement.Cap{Bank: bankA, Currency: usd, Amount: decimal.RequireFromString(amt)}, time.Time{}); err != nil {
			t.Fatal(err)
		}
	}
	if err := s.SetCap(ctx, settlement.Cap{Bank: bankA, Currency: usd, Amount: decimal.RequireFromString("9")}, time.Now().Add(time.Hour)); err != nil {
		t.Fatal(err)
	}
	if err := s.SetCap(ctx, settlement.Cap{Bank: bankA, Currency: usd, Amount: decimal.RequireFromString("1.001")}, time.Time{}); !errors.Is(err, settlement.ErrAmountScale) {
		t.Fatalf("scale: %v", err)
	}
	caps, err := s.Caps(ctx)
	if err != nil || len(caps) != 1 || !caps[0].Amount.Equal(decimal.RequireFromString("2000.5")) {
		t.Fatalf("caps: %+v %v", caps, err)
	}
	if n := f.count(`SELECT count(*) FROM net_debit_caps`); n != 3 {
		t.Fatalf("%d cap rows: a new cap is a new row", n)
	}
}
