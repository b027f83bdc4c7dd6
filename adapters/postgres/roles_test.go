package postgres_test

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"net/url"
	"testing"

	"settle/adapters/postgres"
)

// TestIngestAsServiceRole runs an ingest as a login role that holds only
// settle_service, and shows that role cannot rewrite what it wrote.
func TestIngestAsServiceRole(t *testing.T) {
	f := newFixture(t)
	var rnd [4]byte
	_, _ = rand.Read(rnd[:])
	role := "svc_" + hex.EncodeToString(rnd[:])
	if _, err := f.s.DB().Exec(`CREATE ROLE ` + role + ` LOGIN IN ROLE settle_service`); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _, _ = f.s.DB().Exec(`DROP ROLE IF EXISTS ` + role) })
	u, err := url.Parse(f.dsn)
	if err != nil {
		t.Fatal(err)
	}
	u.User = url.User(role)
	svc, err := postgres.Open(context.Background(), u.String())
	if err != nil {
		t.Fatal(err)
	}
	c := f.cycle("2026-11-24")
	fr, es := file(bankA, "A1", c, pay(2, "P1", bankA, bankB, "100"))
	res, err := svc.IngestFile(f.ctx, fr, es)
	if err != nil || res.Status != "ACCEPTED" {
		t.Fatalf("%+v %v", res, err)
	}
	for _, stmt := range []string{`UPDATE payments SET amount = 1`, `DELETE FROM payments`, `TRUNCATE payments`} {
		if _, err := svc.DB().Exec(stmt); err == nil {
			t.Errorf("service role: %s allowed", stmt)
		}
	}
	svc.Close() // before the role is dropped
	if n := f.count(`SELECT count(*) FROM payments WHERE amount = 100`); n != 1 {
		t.Fatalf("%d payments", n)
	}
}
