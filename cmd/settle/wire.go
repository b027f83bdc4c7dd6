package main

import (
	"context"
	"database/sql"
	"fmt"
	"io"
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"time"

	"github.com/spf13/cobra"
	"golang.org/x/crypto/ssh"

	"settle/adapters/archive"
	"settle/adapters/events"
	"settle/adapters/journal"
	"settle/adapters/postgres"
	"settle/adapters/reports"
	"settle/adapters/schemekey"
	"settle/adapters/sftp"
	"settle/formats"
	"settle/jobs"
	"settle/ledger/fabric"
	"settle/settlement"
)

// runtime is the system wired together for one command: only this package
// joins concrete adapters to the jobs' ports.
type runtime struct {
	cfg     Config
	log     *slog.Logger
	store   *postgres.Store
	jobs    *postgres.JobStore
	bus     *events.Bus
	inbox   *sftp.Storage  // the built-in server's storage
	banks   jobs.BankInbox // where intake reads and reports go: inbox, and the remote banks' own servers
	archive *archive.Archive
	cal     *jobs.Calendar
	ledger  ledgerClient
	// lazy is the ledger connected on first use (runtimeOpts.lazyLedger),
	// whose own methods settle serve uses (Listen, Ordering, OnForeign);
	// fabric is the client connected at once (runtimeOpts.ledger). One of
	// them is ledger, or neither (a command without the ledger).
	lazy   *lazyLedger
	fabric *fabric.Client
	// remotes routes between the built-in server and the banks' own
	// servers; nil when no bank has one (remote_banks is empty).
	remotes *jobs.Inboxes
	signer  *schemekey.Signer // the scheme's key: every outbox file is signed
	closers []func() error
}

func (r *runtime) Close() {
	for i := len(r.closers) - 1; i >= 0; i-- {
		r.closers[i]()
	}
}

// ledgerClient is the ledger as the commands wire it: the jobs' port, and
// the content of a committed transaction, which the audit's trace of a
// ledger transaction reads (settle audit tx, the console's trace page).
type ledgerClient interface {
	jobs.Ledger
	jobs.TxReader
}

// runtimeOpts say what a command needs.
type runtimeOpts struct {
	ledger bool // the Fabric client
	// lazyLedger: the Fabric client, connected on first use (settle serve:
	// the service starts and takes files while the ledger is down). The
	// network file and the org are checked at once.
	lazyLedger bool
	service    bool // the long-running service: logs at INFO
	// readOnly opens the database in read-only sessions: audit commands
	// never write.
	readOnly bool
}

func configFlag(c *cobra.Command, file *string) {
	c.Flags().StringVar(file, "config", "", "service configuration (YAML); defaults are local")
}

// logLevel is SETTLE_LOG (debug, info, warn, error) or def.
func logLevel(def slog.Level) slog.Level {
	var l slog.Level
	if v := os.Getenv("SETTLE_LOG"); v != "" && l.UnmarshalText([]byte(v)) == nil {
		return l
	}
	return def
}

// newLogger writes JSON logs to stderr: a command logs warnings and errors
// (its output is what the operator reads); the service logs at INFO.
func newLogger(def slog.Level) *slog.Logger {
	return slog.New(slog.NewJSONHandler(os.Stderr, &slog.HandlerOptions{Level: logLevel(def)}))
}

func openRuntime(ctx context.Context, file string, opts runtimeOpts) (*runtime, error) {
	cfg, err := loadConfig(file)
	if err != nil {
		return nil, usageError("config: %v", err)
	}
	level := slog.LevelWarn
	if opts.service {
		level = slog.LevelInfo
	}
	r := &runtime{cfg: cfg, log: newLogger(level)}
	ok := false
	defer func() {
		if !ok {
			r.Close()
		}
	}()
	if r.cal, err = cfg.calendar(); err != nil {
		return nil, usageError("config: %v", err)
	}
	octx, cancel := context.WithTimeout(ctx, 30*time.Second)
	defer cancel()
	dsn := cfg.Database
	if opts.readOnly {
		dsn = readOnlyDSN(dsn)
	}
	if r.store, err = postgres.Open(octx, dsn); err != nil {
		return nil, fmt.Errorf("database %s: %w", cfg.Redacted().Database, err)
	}
	r.closers = append(r.closers, r.store.Close)
	if err := checkMigrated(octx, r.store); err != nil {
		return nil, err
	}
	r.bus = events.New(r.store.DB(), r.log)
	r.jobs = r.store.Jobs(func(ctx context.Context, tx *sql.Tx, e jobs.Event) error { return r.bus.PublishTx(ctx, tx, e) }, cfg.Instance)
	r.jobs.Now = clock
	if r.inbox, err = sftp.NewStorage(cfg.path("sftp"), r.log); err != nil {
		return nil, err
	}
	var closeRemotes []func() error
	if r.remotes, closeRemotes, err = bankInboxes(cfg, r.inbox, r.log); err != nil {
		return nil, usageError("config: %v", err)
	}
	r.banks = r.inbox
	if r.remotes != nil {
		r.banks = r.remotes
	}
	r.closers = append(r.closers, closeRemotes...)
	if opts.readOnly {
		r.signer = &schemekey.Signer{Dir: cfg.schemeKeys()} // an audit writes nothing, not even a first key
	} else if r.signer, err = schemeSigner(cfg, r.log); err != nil {
		return nil, err
	}
	r.banks = jobs.SignedInbox{BankInbox: r.banks, Signer: r.signer}
	if r.archive, err = archive.Open(cfg.path("archive"), formats.DefaultLimits.FileBytesMax); err != nil {
		return nil, err
	}
	if err := r.openLedger(ctx, opts); err != nil {
		return nil, err
	}
	ok = true
	return r, nil
}

// openLedger connects the ledger a command needs (runtimeOpts): the
// lazily connected client for the service, or the client at once.
func (r *runtime) openLedger(ctx context.Context, opts runtimeOpts) error {
	cfg := r.cfg
	if opts.lazyLedger {
		n, err := fabric.LoadNetwork(cfg.Ledger.Network)
		if err != nil {
			return usageError("ledger.network: %v", err)
		}
		if cfg.Ledger.Org < 1 || cfg.Ledger.Org > len(n.Banks) {
			return usageError("ledger.org %d: the network has banks 1..%d", cfg.Ledger.Org, len(n.Banks))
		}
		l := &lazyLedger{}
		l.open = func(ctx context.Context) (*fabric.Client, error) {
			return openFabricWith(ctx, cfg, r.log, l.foreign)
		}
		r.ledger, r.lazy = l, l
		r.closers = append(r.closers, l.Close)
	} else if opts.ledger {
		l, err := openFabric(ctx, cfg, r.log)
		if err != nil {
			return fmt.Errorf("ledger: %w", err)
		}
		r.ledger, r.fabric = l, l
		r.closers = append(r.closers, l.Close)
	}
	return nil
}

// runWith opens the runtime a command needs, runs fn with it and closes it.
func runWith(cmd *cobra.Command, file string, opts runtimeOpts, fn func(*runtime) error) error {
	r, err := openRuntime(cmd.Context(), file, opts)
	if err != nil {
		return err
	}
	defer r.Close()
	return fn(r)
}

func checkMigrated(ctx context.Context, s *postgres.Store) error {
	st, err := s.MigrationStatus(ctx)
	if err != nil {
		return err
	}
	for _, m := range st {
		if m.Applied == nil {
			return fmt.Errorf("database is not migrated (migration %d %s pending): run `settle migrate up`", m.Version, m.Name)
		}
	}
	return nil
}

func (r *runtime) intake() (*jobs.Intake, error) {
	cut, err := r.cfg.cutOff()
	if err != nil {
		return nil, err
	}
	var inbox jobs.BankInbox = r.banks
	if r.cfg.Agent.BIC != "" { // the agent's answers are not payment files: agentIntake takes them
		inbox = jobs.WithoutBank{BankInbox: r.banks, Bank: settlement.BIC(r.cfg.Agent.BIC)}
	}
	return &jobs.Intake{Inbox: inbox, Archive: r.archive, Store: r.jobs, Files: r.jobs, Taking: journal.Takes{Dir: r.cfg.path("taking")}, Calendar: r.cal,
		CutOff: cut, AheadMax: r.cfg.Intake.AheadMaxDays, Scheme: settlement.BIC(r.cfg.Scheme.BIC), Now: clock, Log: r.log,
		Limits: intakeLimits(r.cfg, r.cal.Location())}, nil
}

// intakeLimits are the contract's limits, or on the governed path the
// ledger's for one file (fabric.FileBytesMax, fabric.EntriesMax, a CSV's
// header and trailer besides): a bank hears of a file the ledger could not
// take in its acknowledgement, not at night.
func intakeLimits(cfg Config, zone *time.Location) formats.Limits {
	l := formats.Limits{Zone: zone}
	if cfg.Ledger.Governed {
		l.FileBytesMax, l.RecordsMax = fabric.FileBytesMax, fabric.EntriesMax+2
	}
	return l
}

func (r *runtime) pipeline(progress func(string, int, int)) *jobs.Pipeline {
	p := &jobs.Pipeline{Store: r.jobs, Ledger: r.ledger, Outbox: r.banks, Reports: reports.Dir{Root: r.cfg.path("reports")}, ChunkSize: r.cfg.Ledger.ChunkSize,
		Workers: r.cfg.Ledger.Workers, Now: clock, Log: r.log, Progress: progress,
		UnfundedAfter: r.cfg.Agent.UnfundedAfter, After: r.afterSettlement(),
		Governed: r.governed(), Files: r.archive, Calendar: r.cal, GridlockAskAfter: r.cfg.Ledger.GridlockAskAfter}
	if r.cfg.Agent.BIC != "" { // the third side of reconciliation, where there is an agent
		p.Agent = r.jobs
	}
	return p
}

// readOnlyDSN makes every session of the connection read-only.
func readOnlyDSN(dsn string) string {
	if strings.Contains(dsn, "://") {
		if strings.Contains(dsn, "?") {
			return dsn + "&default_transaction_read_only=on"
		}
		return dsn + "?default_transaction_read_only=on"
	}
	return dsn + " default_transaction_read_only=on"
}

// remoteKeyBytesMax bounds a remote bank's private key file.
const remoteKeyBytesMax = 64 << 10

// bankInboxes is the built-in server's storage with a pull from each
// remote bank's own server; nil when there is none (the storage alone).
func bankInboxes(cfg Config, local *sftp.Storage, log *slog.Logger) (*jobs.Inboxes, []func() error, error) {
	if len(cfg.RemoteBanks) == 0 {
		return nil, nil, nil
	}
	var closers []func() error
	m := &jobs.Inboxes{Local: local, Remote: map[settlement.BIC]jobs.BankInbox{}, Log: log}
	for i, rb := range cfg.RemoteBanks {
		bic, err := settlement.ParseBIC(rb.Bank) // canonical: XXX branch folded
		if err != nil {
			return nil, closers, fmt.Errorf("remote_banks[%d]: %w", i, err)
		}
		signer, err := readPrivateKey(rb.Key)
		if err != nil {
			return nil, closers, fmt.Errorf("remote_banks[%d] (%s): key: %w", i, bic, err)
		}
		r, err := sftp.NewRemote(sftp.RemoteConfig{Bank: bic, Addr: rb.Addr, User: rb.User, Signer: signer,
			KnownHostsFile: rb.KnownHosts, InboxDir: rb.Inbox, OutboxDir: rb.Outbox,
			StateDir: cfg.path(filepath.Join("remote", string(bic))), Logger: log})
		if err != nil {
			return nil, closers, fmt.Errorf("remote_banks[%d] (%s): %w", i, bic, err)
		}
		m.Remote[bic] = r
		closers = append(closers, r.Close)
	}
	return m, closers, nil
}

// readPrivateKey reads an unencrypted private key that only its owner can
// read.
func readPrivateKey(file string) (ssh.Signer, error) {
	f, err := os.Open(file)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	fi, err := f.Stat()
	if err != nil {
		return nil, err
	}
	if fi.Mode().Perm()&0o077 != 0 {
		return nil, fmt.Errorf("%s is readable by others (mode %04o); chmod 600 it", file, fi.Mode().Perm())
	}
	b, err := io.ReadAll(io.LimitReader(f, remoteKeyBytesMax+1))
	if err != nil {
		return nil, err
	}
	if len(b) > remoteKeyBytesMax {
		return nil, fmt.Errorf("%s: more than %d bytes", file, remoteKeyBytesMax)
	}
	return ssh.ParsePrivateKey(b)
}
