// Package pgtest gives each integration test its own fresh database on a
// real Postgres: the server at DATABASE_URL when set, otherwise this
// checkout's throwaway cluster, started by ops/postgres/up.sh (which installs
// Debian's postgresql when missing). That cluster is the checkout's own:
// its port and data directory are derived from the checkout's path
// (ops/ports.sh, ops/postgres/cluster.sh), so a checkout anywhere (under
// /root, in a 0700 folder) works and never reaches another checkout's
// cluster. So `go test ./adapters/postgres/...` works on a fresh machine.
// The cluster keeps running after `go test` (test packages share it);
// `make test` stops it at the end unless it ran before, and
// ops/postgres/down.sh stops it by hand. Under `go test -short` the tests skip.
package pgtest

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"fmt"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"sync"
	"testing"
	"time"

	"settle/adapters/postgres"
)

var (
	once    sync.Once
	baseURL string
	baseErr error
)

// upTimeout bounds up.sh, apt-get included.
const upTimeout = 5 * time.Minute

// URL returns the URL of the server's maintenance database, starting the
// throwaway cluster if DATABASE_URL is not set. It skips the test under -short.
func URL(t testing.TB) string {
	t.Helper()
	if testing.Short() {
		t.Skip("integration test: needs Postgres (run without -short)")
	}
	once.Do(func() { baseURL, baseErr = start() })
	if baseErr != nil {
		t.Fatalf("pgtest: %v", baseErr)
	}
	return baseURL
}

func start() (string, error) {
	if u := os.Getenv("DATABASE_URL"); u != "" {
		return u, nil
	}
	root, err := repoRoot()
	if err != nil {
		return "", err
	}
	ctx, cancel := context.WithTimeout(context.Background(), upTimeout)
	defer cancel()
	cmd := exec.CommandContext(ctx, filepath.Join(root, "ops/postgres/up.sh"))
	cmd.Env = os.Environ()
	if os.Getenv("PGFSYNC_SETTLE") == "" {
		cmd.Env = append(cmd.Env, "PGFSYNC_SETTLE=off") // tests need no durability
	}
	cmd.Stderr = os.Stderr
	out, err := cmd.Output()
	if err != nil {
		return "", fmt.Errorf("ops/postgres/up.sh (its message is above): %w", err)
	}
	m := regexp.MustCompile(`DATABASE_URL='([^']+)'`).FindSubmatch(out)
	if m == nil {
		return "", fmt.Errorf("ops/postgres/up.sh printed no DATABASE_URL: %q", out)
	}
	return string(m[1]), nil
}

func repoRoot() (string, error) {
	dir, err := os.Getwd()
	if err != nil {
		return "", err
	}
	for i := 0; i < 20; i++ {
		if b, err := os.ReadFile(filepath.Join(dir, "go.mod")); err == nil && strings.Contains(string(b), "module settle\n") {
			return dir, nil
		}
		parent := filepath.Dir(dir)
		if parent == dir {
			break
		}
		dir = parent
	}
	return "", fmt.Errorf("pgtest: no settle go.mod above the working directory")
}

var unsafeName = regexp.MustCompile(`[^a-z0-9_]+`)

// NewDB creates an empty database for the test and drops it when the test
// ends. It returns the database's URL.
func NewDB(t testing.TB) string {
	t.Helper()
	base := URL(t)
	var rnd [4]byte
	_, _ = rand.Read(rnd[:])
	name := unsafeName.ReplaceAllString(strings.ToLower(t.Name()), "_")
	if len(name) > 40 {
		name = name[:40]
	}
	name = "t_" + name + "_" + hex.EncodeToString(rnd[:])

	admin, err := postgres.OpenDB(base)
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	if _, err := admin.ExecContext(ctx, `CREATE DATABASE `+name+` TEMPLATE template0`); err != nil {
		admin.Close()
		t.Fatalf("pgtest: create database: %v", err)
	}
	t.Cleanup(func() {
		defer admin.Close()
		if os.Getenv("PGTEST_KEEP") != "" {
			t.Logf("pgtest: kept database %s", name)
			return
		}
		ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
		defer cancel()
		if _, err := admin.ExecContext(ctx, `DROP DATABASE IF EXISTS `+name+` WITH (FORCE)`); err != nil {
			t.Errorf("pgtest: drop database %s: %v", name, err)
		}
	})
	u, err := url.Parse(base)
	if err != nil || u.Scheme == "" {
		// A key=value DSN: append the dbname, the last one wins.
		return base + " dbname=" + name
	}
	u.Path = "/" + name
	return u.String()
}

// NewStore opens a store on a fresh, migrated database.
func NewStore(t testing.TB) (*postgres.Store, string) {
	t.Helper()
	dsn := NewDB(t)
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	s, err := postgres.Open(ctx, dsn)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { s.Close() })
	if _, err := s.Migrate(ctx); err != nil {
		t.Fatalf("pgtest: migrate: %v", err)
	}
	return s, dsn
}
