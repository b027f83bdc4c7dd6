package migrations_test

import (
	"context"
	"errors"
	"sort"
	"strings"
	"sync"
	"testing"
	"time"

	"settle/adapters/postgres"
	"settle/adapters/postgres/pgtest"
	"settle/settlement"
	"settle/sql/migrations"
)

func open(t *testing.T) *postgres.Store {
	t.Helper()
	s, err := postgres.Open(context.Background(), pgtest.NewDB(t))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { s.Close() })
	return s
}

func TestFilesAreNumbered(t *testing.T) {
	all, err := migrations.All()
	if err != nil {
		t.Fatal(err)
	}
	if len(all) < 2 || all[0].Version != 1 {
		t.Fatalf("migrations: %+v", all)
	}
}

func TestUpFromEmptyThenNoop(t *testing.T) {
	s := open(t)
	ctx := context.Background()
	all, _ := migrations.All()
	done, err := s.Migrate(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if len(done) != len(all) {
		t.Fatalf("applied %v, want %d", done, len(all))
	}
	done, err = s.Migrate(ctx)
	if err != nil || len(done) != 0 {
		t.Fatalf("second run applied %v, %v", done, err)
	}
	st, err := s.MigrationStatus(ctx)
	if err != nil {
		t.Fatal(err)
	}
	for _, m := range st {
		if m.Applied == nil || m.Applied.Checksum != m.Checksum {
			t.Errorf("%04d_%s not applied as recorded: %+v", m.Version, m.Name, m.Applied)
		}
	}
}

func TestUpConcurrently(t *testing.T) {
	dsn := pgtest.NewDB(t)
	const n = 4
	var wg sync.WaitGroup
	results := make([][]int, n)
	errs := make([]error, n)
	for i := range n {
		wg.Add(1)
		go func() {
			defer wg.Done()
			s, err := postgres.Open(context.Background(), dsn)
			if err != nil {
				errs[i] = err
				return
			}
			defer s.Close()
			results[i], errs[i] = s.Migrate(context.Background())
		}()
	}
	wg.Wait()
	var applied []int
	for i := range n {
		if errs[i] != nil {
			t.Fatalf("instance %d: %v", i, errs[i])
		}
		applied = append(applied, results[i]...)
	}
	sort.Ints(applied)
	all, _ := migrations.All()
	if len(applied) != len(all) {
		t.Fatalf("applied %v across instances, want each of %d once", applied, len(all))
	}
	for i, v := range applied {
		if v != all[i].Version {
			t.Fatalf("applied %v", applied)
		}
	}
}

func TestChecksumMismatch(t *testing.T) {
	s := open(t)
	ctx := context.Background()
	if _, err := s.Migrate(ctx); err != nil {
		t.Fatal(err)
	}
	// As if 0001 had been edited after it was applied.
	if _, err := s.DB().ExecContext(ctx, `UPDATE schema_migrations SET checksum = repeat('0', 64) WHERE version = 1`); err != nil {
		t.Fatal(err)
	}
	if _, err := s.Migrate(ctx); !errors.Is(err, migrations.ErrChecksum) {
		t.Fatalf("Up: %v, want ErrChecksum", err)
	}
	if _, err := s.MigrationStatus(ctx); !errors.Is(err, migrations.ErrChecksum) {
		t.Fatalf("List: %v, want ErrChecksum", err)
	}
}

func TestUnknownAppliedMigration(t *testing.T) {
	s := open(t)
	ctx := context.Background()
	if _, err := s.Migrate(ctx); err != nil {
		t.Fatal(err)
	}
	if _, err := s.DB().ExecContext(ctx, `INSERT INTO schema_migrations (version, name, checksum) VALUES (9999, 'future', repeat('a', 64))`); err != nil {
		t.Fatal(err)
	}
	if _, err := s.Migrate(ctx); !errors.Is(err, migrations.ErrUnknown) {
		t.Fatalf("Up: %v, want ErrUnknown", err)
	}
}

// TestUpWithData applies the first migration, writes rows, then applies the
// rest: later migrations must work on tables that hold data.
func TestUpWithData(t *testing.T) {
	s := open(t)
	ctx := context.Background()
	all, _ := migrations.All()
	if _, err := migrations.UpTo(ctx, s.DB(), 1); err != nil {
		t.Fatal(err)
	}
	if _, err := s.DB().ExecContext(ctx, `INSERT INTO banks (bic, name) VALUES ('SHBKKRSE', 'Shinhan'), ('CZNBKRSE', 'Kookmin')`); err != nil {
		t.Fatal(err)
	}
	if err := s.SetCap(ctx, settlement.Cap{Bank: "SHBKKRSE", Currency: mustCur("KRW"), Amount: decimalOf("1000000")}, time.Time{}); err != nil {
		t.Fatal(err)
	}
	done, err := s.Migrate(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if len(done) != len(all)-1 {
		t.Fatalf("applied %v", done)
	}
	banks, err := s.Banks(ctx)
	if err != nil || len(banks) != 2 {
		t.Fatalf("banks after migrating: %v %v", banks, err)
	}
}

// TestCurrencyTableMatchesSettlement keeps currency_minor_unit in step with
// the settlement package's ISO 4217 table.
func TestCurrencyTableMatchesSettlement(t *testing.T) {
	s := open(t)
	ctx := context.Background()
	if _, err := s.Migrate(ctx); err != nil {
		t.Fatal(err)
	}
	var codes []string
	for _, c := range settlement.Currencies() {
		var mu int
		if err := s.DB().QueryRowContext(ctx, `SELECT coalesce(currency_minor_unit($1), -1)`, c.Code()).Scan(&mu); err != nil {
			t.Fatal(err)
		}
		if mu != c.MinorUnit() {
			t.Errorf("%s: database says %d, settlement %d", c, mu, c.MinorUnit())
		}
		codes = append(codes, "'"+c.Code()+"'")
	}
	var others int
	if err := s.DB().QueryRowContext(ctx, `SELECT count(*) FROM (SELECT x c FROM regexp_split_to_table(
		pg_get_functiondef('currency_minor_unit'::regproc), '''') x) y
		WHERE c ~ '^[A-Z]{3}$' AND c NOT IN (`+strings.Join(codes, ",")+`)`).Scan(&others); err != nil {
		t.Fatal(err)
	}
	if others != 0 {
		t.Errorf("database knows %d currencies settlement does not", others)
	}
}
