// Package migrations holds the numbered schema migrations of settle's
// Postgres store, embedded in the binary, and applies them.
//
// Rules of this folder: a file is NNNN_name.sql, numbered in increasing
// order without duplicates (branches take blocks of numbers, 0030 and up
// for the console, so a gap is allowed; two files of one number are not);
// once applied anywhere it is never edited (its checksum is recorded and
// verified on every run) — a change is a new file. Each file runs in its
// own transaction, so it must not contain statements that refuse one
// (CREATE INDEX CONCURRENTLY, VACUUM).
//
// The package takes a *sql.DB and imports no driver: only adapters/postgres
// imports lib/pq.
package migrations

import (
	"context"
	"crypto/sha256"
	"database/sql"
	"embed"
	"encoding/hex"
	"errors"
	"fmt"
	"io/fs"
	"log/slog"
	"regexp"
	"sort"
	"strconv"
	"time"
)

//go:embed *.sql
var files embed.FS

// Migration is one numbered schema change.
type Migration struct {
	Version  int
	Name     string
	SQL      string
	Checksum string // hex SHA-256 of the file's bytes
}

// Applied is a migration as recorded in schema_migrations.
type Applied struct {
	Version   int
	Name      string
	Checksum  string
	AppliedAt time.Time
}

// Status pairs each known migration with its record, if applied.
type Status struct {
	Migration
	Applied *Applied
}

var (
	// ErrChecksum reports an applied migration whose file has changed since.
	ErrChecksum = errors.New("applied migration has been edited")
	// ErrUnknown reports a migration recorded in the database that this
	// binary does not have: the database is newer than the code.
	ErrUnknown = errors.New("database has a migration this binary does not know")
	// ErrFiles reports a badly named or numbered migration file (a bug).
	ErrFiles = errors.New("bad migration files")
)

// lockKey is the advisory lock that serialises migrators of one database:
// the first 8 bytes of sha256("settle/sql/migrations"), fixed forever.
const lockKey int64 = 0x2f1c_5e3a_77d0_4b19

// lockTimeout bounds the wait for another instance to finish migrating.
const lockTimeout = 5 * time.Minute

var fileName = regexp.MustCompile(`^([0-9]{4})_([a-z0-9_]+)\.sql$`)

// All returns the embedded migrations in order.
func All() ([]Migration, error) { return load(files) }

func load(fsys fs.FS) ([]Migration, error) {
	names, err := fs.Glob(fsys, "*.sql")
	if err != nil {
		return nil, err
	}
	sort.Strings(names)
	out := make([]Migration, 0, len(names))
	prev := 0
	for _, n := range names {
		m := fileName.FindStringSubmatch(n)
		if m == nil {
			return nil, fmt.Errorf("%w: %s is not NNNN_name.sql", ErrFiles, n)
		}
		v, _ := strconv.Atoi(m[1])
		if v <= prev || (prev == 0 && v != 1) {
			return nil, fmt.Errorf("%w: %s: numbers start at 0001 and increase without duplicates (after %04d)", ErrFiles, n, prev)
		}
		prev = v
		b, err := fs.ReadFile(fsys, n)
		if err != nil {
			return nil, err
		}
		sum := sha256.Sum256(b)
		out = append(out, Migration{Version: v, Name: m[2], SQL: string(b), Checksum: hex.EncodeToString(sum[:])})
	}
	return out, nil
}

const createTable = `CREATE TABLE IF NOT EXISTS schema_migrations (
	version     integer PRIMARY KEY,
	name        text NOT NULL,
	checksum    char(64) NOT NULL,
	applied_at  timestamptz NOT NULL DEFAULT now()
)`

// Up applies every pending migration, each in its own transaction, under a
// session advisory lock so that two instances starting at once apply each
// migration exactly once. It first verifies the checksums of the applied
// ones. It returns the versions it applied.
func Up(ctx context.Context, db *sql.DB) ([]int, error) {
	all, err := All()
	if err != nil {
		return nil, err
	}
	return up(ctx, db, all)
}

// UpTo applies the pending migrations up to and including version; tests
// use it to put data in an older schema before migrating further.
func UpTo(ctx context.Context, db *sql.DB, version int) ([]int, error) {
	all, err := All()
	if err != nil {
		return nil, err
	}
	if version < len(all) {
		all = all[:version]
	}
	return up(ctx, db, all)
}

func up(ctx context.Context, db *sql.DB, all []Migration) (done []int, err error) {
	conn, err := db.Conn(ctx)
	if err != nil {
		return nil, err
	}
	defer conn.Close()

	lctx, cancel := context.WithTimeout(ctx, lockTimeout)
	_, err = conn.ExecContext(lctx, `SELECT pg_advisory_lock($1)`, lockKey)
	cancel()
	if err != nil {
		return nil, fmt.Errorf("migrations: lock: %w", err)
	}
	defer func() {
		// A fresh context: the caller's may be cancelled, the lock must go.
		uctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		if _, uerr := conn.ExecContext(uctx, `SELECT pg_advisory_unlock($1)`, lockKey); uerr != nil {
			// Closing the session releases it too; make sure it is closed.
			_ = conn.Raw(func(any) error { return errBadConn })
			err = errors.Join(err, fmt.Errorf("migrations: unlock: %w", uerr))
		}
	}()

	if _, err := conn.ExecContext(ctx, createTable); err != nil {
		return nil, fmt.Errorf("migrations: %w", err)
	}
	applied, err := readApplied(ctx, conn)
	if err != nil {
		return nil, err
	}
	if err := verify(all, applied); err != nil {
		return nil, err
	}
	for _, m := range all {
		if _, ok := applied[m.Version]; ok {
			continue
		}
		start := time.Now()
		if err := apply(ctx, conn, m); err != nil {
			return done, err
		}
		slog.Info("migration applied", "version", m.Version, "name", m.Name, "elapsed", time.Since(start))
		done = append(done, m.Version)
	}
	return done, nil
}

func apply(ctx context.Context, conn *sql.Conn, m Migration) error {
	tx, err := conn.BeginTx(ctx, nil)
	if err != nil {
		return err
	}
	defer tx.Rollback()
	if _, err := tx.ExecContext(ctx, m.SQL); err != nil {
		return fmt.Errorf("migration %04d_%s: %w", m.Version, m.Name, err)
	}
	if _, err := tx.ExecContext(ctx, `INSERT INTO schema_migrations (version, name, checksum) VALUES ($1, $2, $3)`,
		m.Version, m.Name, m.Checksum); err != nil {
		return fmt.Errorf("migration %04d_%s: record: %w", m.Version, m.Name, err)
	}
	if err := tx.Commit(); err != nil {
		return fmt.Errorf("migration %04d_%s: commit: %w", m.Version, m.Name, err)
	}
	return nil
}

type querier interface {
	QueryContext(ctx context.Context, query string, args ...any) (*sql.Rows, error)
}

func readApplied(ctx context.Context, q querier) (map[int]Applied, error) {
	rows, err := q.QueryContext(ctx, `SELECT version, name, checksum, applied_at FROM schema_migrations ORDER BY version`)
	if err != nil {
		return nil, fmt.Errorf("migrations: read applied: %w", err)
	}
	defer rows.Close()
	out := map[int]Applied{}
	for rows.Next() {
		var a Applied
		if err := rows.Scan(&a.Version, &a.Name, &a.Checksum, &a.AppliedAt); err != nil {
			return nil, err
		}
		out[a.Version] = a
	}
	return out, rows.Err()
}

func verify(all []Migration, applied map[int]Applied) error {
	known := make(map[int]Migration, len(all))
	for _, m := range all {
		known[m.Version] = m
	}
	var errs []error
	for v, a := range applied {
		m, ok := known[v]
		if !ok {
			errs = append(errs, fmt.Errorf("%w: %04d_%s", ErrUnknown, v, a.Name))
			continue
		}
		if m.Checksum != a.Checksum {
			errs = append(errs, fmt.Errorf("%w: %04d_%s: recorded %s, file %s", ErrChecksum, v, m.Name, a.Checksum, m.Checksum))
		}
	}
	return errors.Join(errs...)
}

// List reports every known migration and whether it is applied, and
// verifies checksums like Up (the error then comes with the list).
func List(ctx context.Context, db *sql.DB) ([]Status, error) {
	all, err := All()
	if err != nil {
		return nil, err
	}
	var exists bool
	if err := db.QueryRowContext(ctx, `SELECT to_regclass('schema_migrations') IS NOT NULL`).Scan(&exists); err != nil {
		return nil, err
	}
	applied := map[int]Applied{}
	if exists {
		if applied, err = readApplied(ctx, db); err != nil {
			return nil, err
		}
	}
	out := make([]Status, 0, len(all))
	for _, m := range all {
		s := Status{Migration: m}
		if a, ok := applied[m.Version]; ok {
			s.Applied = &a
		}
		out = append(out, s)
	}
	return out, verify(all, applied)
}
