package main

import (
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/url"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"time"

	"gopkg.in/yaml.v3"

	"settle/jobs"
	"settle/ledger/fabric"
	"settle/settlement"
)

// Config is the service's one configuration file. Every field has a local
// default, so `settle serve` with no file runs against the project's own
// throwaway services. Secrets (the database password) are never logged:
// Redacted() is what goes to logs.
type Config struct {
	Zone     string `yaml:"zone"`      // IANA time zone of the scheme
	Database string `yaml:"database"`  // Postgres URL; DATABASE_URL wins when set
	StateDir string `yaml:"state_dir"` // archive, SFTP tree, ledger client state
	Instance string `yaml:"instance"`  // name of this instance in run claims and logs

	Scheme struct {
		// BIC is the scheme's own BIC: the instructing agent of the status
		// reports (pacs.002) written beside the acknowledgements, and the
		// sender of every message the scheme writes.
		BIC  string `yaml:"bic"`
		Keys string `yaml:"keys"` // folder of the scheme's signing keys (default <state_dir>/scheme-keys)
	} `yaml:"scheme"`

	SFTP struct {
		Listen string `yaml:"listen"`
		Banks  string `yaml:"banks"` // JSON file of bank logins and keys (see settle sftpd)
	} `yaml:"sftp"`

	Intake struct {
		Poll         time.Duration `yaml:"poll"`           // how often the inbox is looked at
		CutOff       string        `yaml:"cutoff"`         // local time after which files go to the next day
		AheadMaxDays int           `yaml:"ahead_max_days"` // how far ahead a file may be dated
	} `yaml:"intake"`

	Schedule struct {
		Cycle    string `yaml:"cycle"`    // cron: when the day's cycle is frozen and run
		Holidays string `yaml:"holidays"` // file of "YYYY-MM-DD name" lines
		// Resume: how often settle serve carries on the unfinished cycles a
		// passing failure stopped (the ledger down longer than the event
		// retries, a crash between steps).
		Resume time.Duration `yaml:"resume"`
	} `yaml:"schedule"`

	Ledger struct {
		Network   string `yaml:"network"`    // network.json written by ops/fabric/up.sh
		Org       int    `yaml:"org"`        // which bank organisation's identity the client uses (1-based)
		ChunkSize int    `yaml:"chunk_size"` // payments per ledger transaction
		Workers   int    `yaml:"workers"`    // chunks written at once
		// Governed switches the ledger writes to the chaincode's governed path
		// (issue 11): the client signs as the operator org's identity
		// (Operator, 1-based, of network.json's operators), declares each
		// cycle's files, relays their archived bytes and .sig in parts of
		// PartBytes, and settles on the ledger's own positions. The ledger
		// must be founded first (`settle ledger found`, then each bank's
		// `approve-founding` and `register-keys`). On by default; off is the
		// legacy chunk path, which a founded ledger refuses.
		Governed bool `yaml:"governed"`
		// Chaincode, when set, is the chaincode name instead of network.json's
		// (ops/fabric FABRIC_CHAINCODE_EXTRA: a second ledger on the channel).
		Chaincode string `yaml:"chaincode"`
		Operator  int    `yaml:"operator"`
		PartBytes int    `yaml:"part_bytes"`
		// GridlockAskAfter: a cycle over its caps whose carried payments
		// include one the ledger's gridlock resolution has deferred this
		// many times is held for the operator (settle cycle resolve defers
		// it again) instead of resolving by itself; 0: never asks.
		GridlockAskAfter int `yaml:"gridlock_ask_after"`
	} `yaml:"ledger"`

	Broker struct {
		Kind string `yaml:"kind"` // postgres (default) or nats
		NATS string `yaml:"nats"` // NATS URL when kind is nats
	} `yaml:"broker"`

	HTTP struct {
		Listen string `yaml:"listen"` // /healthz, /readyz, /metrics
	} `yaml:"http"`

	// Console is the web console (issue 17), a listener of its own beside
	// /metrics: served by `settle serve` when Listen is set, and by
	// `settle console`. Without a certificate it is plain HTTP and
	// listens only on loopback.
	Console struct {
		Listen  string `yaml:"listen"`
		TLSCert string `yaml:"tls_cert"`
		TLSKey  string `yaml:"tls_key"`
		// LagBlocks is how many blocks a peer may be behind the highest
		// before the Ledger page warns of it.
		LagBlocks int `yaml:"lag_blocks"`
	} `yaml:"console"`

	// RemoteBanks are banks that keep their files on their own SFTP
	// server: intake pulls from there (beside the built-in server), and
	// their acknowledgements and reports are written back there.
	RemoteBanks []RemoteBank `yaml:"remote_banks"`

	afterSettlement `yaml:",inline"` // scheme.go
}

// RemoteBank is one bank's own SFTP server, as the system logs in to it.
type RemoteBank struct {
	Bank       string `yaml:"bank"`        // the bank's BIC
	Addr       string `yaml:"addr"`        // host:port
	User       string `yaml:"user"`        // the login the bank gave the settlement system
	Key        string `yaml:"key"`         // private key file (OpenSSH or PKCS#8 PEM, unencrypted), mode 0600
	KnownHosts string `yaml:"known_hosts"` // the server's host key in known_hosts form
	Inbox      string `yaml:"inbox"`       // folder of payment files (default inbox)
	Outbox     string `yaml:"outbox"`      // folder for acknowledgements and reports (default outbox)
}

// remoteBanksMax bounds the remote_banks list.
const remoteBanksMax = 1000

// configBytesMax bounds the config file.
const configBytesMax = 1 << 20

func defaultConfig() Config {
	var c Config
	c.Zone = jobs.DefaultZone
	c.Database = "postgres://postgres@127.0.0.1:25432/settle?sslmode=disable"
	c.StateDir = ".run/settle"
	host, _ := os.Hostname()
	c.Instance = fmt.Sprintf("%s-%d", host, os.Getpid())
	c.Scheme.BIC = string(jobs.DefaultScheme)
	c.SFTP.Listen = "127.0.0.1:2222"
	c.Intake.Poll = 2 * time.Second
	c.Intake.CutOff = "18:00"
	c.Intake.AheadMaxDays = 7
	c.Schedule.Cycle = "0 18 * * 1-5"
	c.Schedule.Resume = time.Minute
	c.Ledger.Network = "ops/fabric/.network/network.json"
	c.Ledger.Org = 1
	c.Ledger.ChunkSize = jobs.ChunkSizeDefault
	c.Ledger.Workers = jobs.ChunkWorkersDefault
	// The governed path is the path (issue 11): the service signs as the
	// operator, and the ledger takes payments only from files their banks
	// signed. `governed: false` is the legacy chunk path, for a ledger that
	// was never founded.
	c.Ledger.Governed = true
	c.Ledger.GridlockAskAfter = jobs.GridlockAskAfterDefault
	c.Ledger.Operator = 1
	c.Broker.Kind = "postgres"
	c.HTTP.Listen = "127.0.0.1:9464"
	c.Console.LagBlocks = 2
	return c
}

// loadConfig reads file (if any) over the defaults, then DATABASE_URL.
func loadConfig(file string) (Config, error) {
	c := defaultConfig()
	if file != "" {
		f, err := os.Open(file)
		if err != nil {
			return c, err
		}
		defer f.Close()
		dec := yaml.NewDecoder(ioLimit(f, configBytesMax))
		dec.KnownFields(true) // a misspelt key is an error, not a silent default
		// io.EOF: an empty file, which is the defaults.
		if err := dec.Decode(&c); err != nil && !errors.Is(err, io.EOF) {
			return c, fmt.Errorf("%s: %w", file, err)
		}
	}
	if u := os.Getenv("DATABASE_URL"); u != "" {
		c.Database = u
	}
	return c, c.check()
}

func (c *Config) check() error {
	if _, err := time.LoadLocation(c.Zone); err != nil {
		return fmt.Errorf("zone %q: %w", c.Zone, err)
	}
	if _, err := c.cutOff(); err != nil {
		return err
	}
	scheme, err := settlement.ParseBIC(c.Scheme.BIC)
	if err != nil {
		return fmt.Errorf("scheme.bic: %w", err)
	}
	c.Scheme.BIC = string(scheme)
	if c.Intake.Poll < 100*time.Millisecond {
		return fmt.Errorf("intake.poll %s is too short", c.Intake.Poll)
	}
	if c.Schedule.Resume < time.Second || c.Schedule.Resume > 24*time.Hour {
		return fmt.Errorf("schedule.resume %s: 1s..24h", c.Schedule.Resume)
	}
	if c.Ledger.ChunkSize < 1 || c.Ledger.ChunkSize > 5000 {
		return fmt.Errorf("ledger.chunk_size %d: 1..5000", c.Ledger.ChunkSize)
	}
	if c.Ledger.Governed && c.Ledger.Operator < 1 {
		c.Ledger.Operator = 1
	}
	if c.Ledger.GridlockAskAfter < 0 || c.Ledger.GridlockAskAfter > 366 {
		return fmt.Errorf("ledger.gridlock_ask_after %d: 0 (never) to 366 deferrals", c.Ledger.GridlockAskAfter)
	}
	if c.Ledger.PartBytes < 0 || c.Ledger.PartBytes > fabric.PartBytesMax {
		return fmt.Errorf("ledger.part_bytes %d: 0..%d", c.Ledger.PartBytes, fabric.PartBytesMax)
	}
	if c.Ledger.Workers < 1 || c.Ledger.Workers > 64 {
		return fmt.Errorf("ledger.workers %d: 1..64", c.Ledger.Workers)
	}
	if c.Console.LagBlocks < 0 || c.Console.LagBlocks > 1000 {
		return fmt.Errorf("console.lag_blocks %d: 0..1000", c.Console.LagBlocks)
	}
	if c.Broker.Kind != "postgres" && c.Broker.Kind != "nats" {
		return fmt.Errorf("broker.kind %q: postgres or nats", c.Broker.Kind)
	}
	if c.Broker.Kind == "nats" && c.Broker.NATS == "" {
		return fmt.Errorf("broker.nats: the NATS URL is required when broker.kind is nats")
	}
	if err := c.checkAfterSettlement(); err != nil {
		return err
	}
	if len(c.RemoteBanks) > remoteBanksMax {
		return fmt.Errorf("remote_banks: %d entries, at most %d", len(c.RemoteBanks), remoteBanksMax)
	}
	seen := map[settlement.BIC]bool{}
	for i, rb := range c.RemoteBanks {
		bic, err := settlement.ParseBIC(rb.Bank)
		if err != nil {
			return fmt.Errorf("remote_banks[%d].bank: %w", i, err)
		}
		if seen[bic] {
			return fmt.Errorf("remote_banks[%d]: %s is listed twice", i, bic)
		}
		seen[bic] = true
		for field, v := range map[string]string{"addr": rb.Addr, "user": rb.User, "key": rb.Key, "known_hosts": rb.KnownHosts} {
			if v == "" {
				return fmt.Errorf("remote_banks[%d] (%s): %s is required", i, bic, field)
			}
		}
	}
	return nil
}

// cutOff is the intake cut-off as a time of day.
func (c *Config) cutOff() (time.Duration, error) {
	h, m, ok := strings.Cut(c.Intake.CutOff, ":")
	hh, err1 := strconv.Atoi(h)
	mm, err2 := strconv.Atoi(m)
	if !ok || err1 != nil || err2 != nil || hh < 0 || hh > 23 || mm < 0 || mm > 59 {
		return 0, fmt.Errorf("intake.cutoff %q: want HH:MM", c.Intake.CutOff)
	}
	return time.Duration(hh)*time.Hour + time.Duration(mm)*time.Minute, nil
}

// calendar builds the business-day calendar.
func (c *Config) calendar() (*jobs.Calendar, error) {
	loc, err := time.LoadLocation(c.Zone)
	if err != nil {
		return nil, err
	}
	var hol map[settlement.Date]string
	if c.Schedule.Holidays != "" {
		f, err := os.Open(c.Schedule.Holidays)
		if err != nil {
			return nil, err
		}
		defer f.Close()
		if hol, err = jobs.ParseHolidays(f); err != nil {
			return nil, err
		}
	}
	return jobs.NewCalendar(loc, hol), nil
}

func (c *Config) path(parts ...string) string {
	return filepath.Join(append([]string{c.StateDir}, parts...)...)
}

// Redacted is the config as it may be logged: no password.
func (c Config) Redacted() Config {
	if u, err := url.Parse(c.Database); err == nil && u.User != nil {
		if _, has := u.User.Password(); has {
			u.User = url.UserPassword(u.User.Username(), "REDACTED")
			c.Database = u.String()
		}
	} else if strings.Contains(c.Database, "password=") {
		c.Database = "(key=value DSN with a password, not logged)"
	}
	return c
}

// LogValue keeps the password out of structured logs.
func (c Config) LogValue() slog.Value {
	r := c.Redacted()
	return slog.GroupValue(slog.String("zone", r.Zone), slog.String("database", r.Database),
		slog.String("state_dir", r.StateDir), slog.String("broker", r.Broker.Kind), slog.String("instance", r.Instance))
}
