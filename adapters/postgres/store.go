// Package postgres is settle's operational record in PostgreSQL: banks and
// their keys and caps, received files, payments and reversals, cycles, net
// positions, obligations, ledger transactions, reconciliation breaks, job
// runs and the outbox. It is the only package that imports lib/pq.
//
// The schema (sql/migrations) guards what must never happen — a second copy
// of a file or a payment id, a reversal that does not match its original, a
// rewrite of money — so that a bug here or a careless operator with psql
// cannot break it either. This package adds the error reports a bank can
// act on, and owns the transactions.
package postgres

import (
	"context"
	"database/sql"
	"database/sql/driver"
	"errors"
	"fmt"
	"time"

	"github.com/lib/pq"

	"settle/sql/migrations"
)

// Store is the Postgres store. It is safe for concurrent use.
type Store struct {
	db *sql.DB
}

// Pool bounds; the store is one of several clients of the server.
const (
	connsOpenMax = 16
	connsIdleMax = 4
	connLifetime = 30 * time.Minute
	pingTimeout  = 10 * time.Second
)

// Open connects to the database at dsn (a postgres:// URL or a key=value
// string, as lib/pq reads them) and checks that it answers.
func Open(ctx context.Context, dsn string) (*Store, error) {
	db, err := OpenDB(dsn)
	if err != nil {
		return nil, err
	}
	pctx, cancel := context.WithTimeout(ctx, pingTimeout)
	defer cancel()
	if err := db.PingContext(pctx); err != nil {
		db.Close()
		return nil, fmt.Errorf("postgres: %w", err)
	}
	return &Store{db: db}, nil
}

// OpenDB returns a bounded *sql.DB on the lib/pq driver, for the few places
// (tests, tools) that need raw SQL. It does not connect.
func OpenDB(dsn string) (*sql.DB, error) {
	c, err := pq.NewConnector(dsn)
	if err != nil {
		return nil, fmt.Errorf("postgres: %w", err)
	}
	db := sql.OpenDB(c)
	db.SetMaxOpenConns(connsOpenMax)
	db.SetMaxIdleConns(connsIdleMax)
	db.SetConnMaxLifetime(connLifetime)
	return db, nil
}

// DB is the underlying pool, for tests and administration.
func (s *Store) DB() *sql.DB { return s.db }

// Close closes the pool.
func (s *Store) Close() error { return s.db.Close() }

// Migrate applies the pending schema migrations (see sql/migrations).
func (s *Store) Migrate(ctx context.Context) ([]int, error) { return migrations.Up(ctx, s.db) }

// MigrationStatus lists the migrations and which are applied.
func (s *Store) MigrationStatus(ctx context.Context) ([]migrations.Status, error) {
	return migrations.List(ctx, s.db)
}

// SQLSTATE codes the store reacts to.
const (
	codeUniqueViolation     = "23505"
	codeForeignKeyViolation = "23503"
	codeCheckViolation      = "23514"
	codeRestrictViolation   = "23001"
)

// sqlState returns the SQLSTATE of a server error, or "".
func sqlState(err error) string {
	var pe *pq.Error
	if errors.As(err, &pe) {
		return string(pe.Code)
	}
	return ""
}

// constraintOf returns the constraint a server error names, or "".
func constraintOf(err error) string {
	var pe *pq.Error
	if errors.As(err, &pe) {
		return pe.Constraint
	}
	return ""
}

// IsAppendOnly tells whether err is the schema refusing to rewrite an
// append-only record.
func IsAppendOnly(err error) bool { return sqlState(err) == codeRestrictViolation }

// discard makes database/sql drop conn instead of pooling it: after a
// failed ROLLBACK its session state is unknown.
func discard(conn *sql.Conn) {
	_ = conn.Raw(func(any) error { return driver.ErrBadConn })
}
