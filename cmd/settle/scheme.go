package main

import (
	"context"
	"fmt"
	"log/slog"
	"os"
	"slices"
	"time"

	"github.com/spf13/cobra"

	"settle/adapters/schemekey"
	"settle/formats"
	"settle/formats/pacs009"
	"settle/jobs"
	"settle/reconciliation"
	"settle/settlement"
	"settle/signature"
)

// afterSettlement is the part of the config about what the scheme writes
// once a cycle settles and the settlement agent that moves the money
// (kept inline in Config, in a file of its own).
type afterSettlement struct {
	Agent struct {
		BIC           string            `yaml:"bic"`            // the settlement agent (an SFTP participant of its own)
		SchemeAccount string            `yaml:"scheme_account"` // the scheme's settlement account at the agent
		Keys          string            `yaml:"keys"`           // folder of the agent's public keys, <BIC>.<label>.pem
		Accounts      map[string]string `yaml:"accounts"`       // BIC -> the member's account at the agent
		// UnfundedAfter: a settled cycle the agent has not confirmed this
		// long after it settled raises settle_cycle_unfunded.
		UnfundedAfter time.Duration `yaml:"unfunded_after"`
	} `yaml:"agent"`
}

// defaultSchemeBIC is the scheme's BIC in local runs and the demo.
const defaultSchemeBIC = string(jobs.DefaultScheme)

func (c *Config) schemeKeys() schemekey.Dir {
	if c.Scheme.Keys != "" {
		return schemekey.Dir{Path: c.Scheme.Keys}
	}
	return schemekey.Dir{Path: c.path("scheme-keys")}
}

func (c *Config) schemeBIC() settlement.BIC {
	if c.Scheme.BIC == "" {
		return settlement.BIC(defaultSchemeBIC)
	}
	b, _ := settlement.ParseBIC(c.Scheme.BIC) // checked in checkAfterSettlement
	return b
}

func (c *Config) checkAfterSettlement() error {
	if c.Scheme.BIC != "" {
		if _, err := settlement.ParseBIC(c.Scheme.BIC); err != nil {
			return fmt.Errorf("scheme.bic: %w", err)
		}
	}
	if c.Agent.BIC != "" {
		if _, err := settlement.ParseBIC(c.Agent.BIC); err != nil {
			return fmt.Errorf("agent.bic: %w", err)
		}
		if c.Agent.SchemeAccount == "" || len(c.Agent.SchemeAccount) > 34 {
			return fmt.Errorf("agent.scheme_account: 1 to 34 characters are required with agent.bic")
		}
	}
	for b, a := range c.Agent.Accounts {
		if _, err := settlement.ParseBIC(b); err != nil {
			return fmt.Errorf("agent.accounts: %w", err)
		}
		if a == "" || len(a) > 34 {
			return fmt.Errorf("agent.accounts[%s]: 1 to 34 characters", b)
		}
	}
	if c.Agent.UnfundedAfter < 0 {
		return fmt.Errorf("agent.unfunded_after %s: not negative", c.Agent.UnfundedAfter)
	}
	return nil
}

// schemeSigner is the scheme's signer; a state folder without a key gets
// its first one (k1), so a fresh local setup signs from its first ack.
func schemeSigner(cfg Config, log *slog.Logger) (*schemekey.Signer, error) {
	d := cfg.schemeKeys()
	if _, err := d.Load(); err == schemekey.ErrNoKey {
		k, err := d.Init("k1")
		if err != nil {
			return nil, fmt.Errorf("scheme key: %w", err)
		}
		log.Warn("scheme signing key created", "label", k.Label, "folder", d.Path)
	} else if err != nil {
		return nil, fmt.Errorf("scheme key: %w", err)
	}
	return &schemekey.Signer{Dir: d}, nil
}

// publishSchemeKeys puts the published public keys into every member's
// outbox, and the agent's, and removes retired ones.
func (r *runtime) publishSchemeKeys(ctx context.Context) error {
	set, err := r.signer.Keys()
	if err != nil {
		return err
	}
	retired, err := r.cfg.schemeKeys().Retired()
	if err != nil {
		return err
	}
	members, err := r.store.Members(ctx)
	if err != nil {
		return err
	}
	var banks []settlement.BIC
	for b := range members {
		banks = append(banks, b)
	}
	if r.cfg.Agent.BIC != "" {
		banks = append(banks, settlement.BIC(r.cfg.Agent.BIC))
	}
	slices.Sort(banks)
	var keys []jobs.PublicKey
	for _, k := range set.Published {
		keys = append(keys, jobs.PublicKey{Label: k.Label, PEM: k.PublicPEM()})
	}
	return jobs.PublishKeys(ctx, r.banks, banks, keys, retired)
}

func newSchemeCmd() *cobra.Command {
	var file string
	c := &cobra.Command{
		Use:   "scheme key [init|rotate|retire]",
		Short: "The scheme's own signing key: print it, rotate it",
	}
	c.PersistentFlags().StringVar(&file, "config", "", "service configuration (YAML); defaults are local")
	key := newSchemeKeyCmd(&file)
	key.AddCommand(newSchemeKeyInitCmd(&file), newSchemeKeyRotateCmd(&file), newSchemeKeyRetireCmd(&file))
	c.AddCommand(key)
	return c
}

// publishSchemeKeysOf publishes the scheme's keys into every outbox after
// a change to them (the runtime of the --config file, its file).
func publishSchemeKeysOf(cmd *cobra.Command, file string) error {
	return runWith(cmd, file, runtimeOpts{}, func(r *runtime) error {
		ctx, cancel := context.WithTimeout(cmd.Context(), time.Minute)
		defer cancel()
		return r.publishSchemeKeys(ctx)
	})
}

// newSchemeKeyCmd is `settle scheme key`: the scheme's public keys printed.
// file is the parent's --config.
func newSchemeKeyCmd(file *string) *cobra.Command {
	key := &cobra.Command{
		Use:   "key",
		Short: "Print the scheme's public keys (PEM): the active one first",
		Long: `Print the public keys with which members verify every file the scheme
writes into their outbox (<file>.sig, Ed25519, base64). The active key comes
first; during a rotation the previous one follows.`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			cfg, err := loadConfig(*file)
			if err != nil {
				return usageError("config: %v", err)
			}
			set, err := cfg.schemeKeys().Load()
			if err != nil {
				return err
			}
			out := cmd.OutOrStdout()
			fmt.Fprintf(out, "# scheme.%s.pem (active)\n%s", set.Active.Label, set.Active.PublicPEM())
			for _, k := range set.Published {
				if k != set.Active {
					fmt.Fprintf(out, "# scheme.%s.pem (previous, still published)\n%s", k.Label, k.PublicPEM())
				}
			}
			return nil
		},
	}
	return key
}

// newSchemeKeyInitCmd is `settle scheme key init`: the first signing key.
func newSchemeKeyInitCmd(file *string) *cobra.Command {
	var label string
	initCmd := &cobra.Command{
		Use:   "init [--label k1]",
		Short: "Make the scheme's first signing key and publish it",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			cfg, err := loadConfig(*file)
			if err != nil {
				return usageError("config: %v", err)
			}
			k, err := cfg.schemeKeys().Init(label)
			if err != nil {
				return err
			}
			fmt.Fprintf(cmd.OutOrStdout(), "scheme key %s made\n", k.Label)
			return publishSchemeKeysOf(cmd, *file)
		},
	}
	initCmd.Flags().StringVar(&label, "label", "k1", "the key's label (scheme.<label>.pem)")
	return initCmd
}

// newSchemeKeyRotateCmd is `settle scheme key rotate`: a new key signs.
func newSchemeKeyRotateCmd(file *string) *cobra.Command {
	var label string
	rotate := &cobra.Command{
		Use:   "rotate --label LABEL",
		Short: "Make a new signing key the one that signs; the old one stays published",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			cfg, err := loadConfig(*file)
			if err != nil {
				return usageError("config: %v", err)
			}
			if label == "" {
				return usageError("--label is required")
			}
			k, err := cfg.schemeKeys().Rotate(label)
			if err != nil {
				return err
			}
			fmt.Fprintf(cmd.OutOrStdout(), "scheme key %s signs from now on; retire the old one once every member has scheme.%s.pem\n", k.Label, k.Label)
			return publishSchemeKeysOf(cmd, *file)
		},
	}
	rotate.Flags().StringVar(&label, "label", "", "the new key's label")
	return rotate
}

// newSchemeKeyRetireCmd is `settle scheme key retire`: a key no longer
// published.
func newSchemeKeyRetireCmd(file *string) *cobra.Command {
	retire := &cobra.Command{
		Use:   "retire LABEL",
		Short: "Stop publishing a key that no longer signs",
		Args:  cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			cfg, err := loadConfig(*file)
			if err != nil {
				return usageError("config: %v", err)
			}
			if err := cfg.schemeKeys().Retire(args[0]); err != nil {
				return err
			}
			fmt.Fprintf(cmd.OutOrStdout(), "scheme key %s retired\n", args[0])
			return publishSchemeKeysOf(cmd, *file)
		},
	}
	return retire
}

func init() { commands = append(commands, newSchemeCmd) }

// afterSettlement is what the report step writes besides the JSON
// reports: statements and confirmations always, instructions when the
// config names a settlement agent.
func (r *runtime) afterSettlement() *jobs.AfterSettlement {
	a := &jobs.AfterSettlement{Scheme: r.cfg.schemeBIC(), Files: r.jobs, TempDir: r.cfg.path("spool")}
	os.MkdirAll(a.TempDir, 0o700)
	if r.cfg.Agent.BIC != "" {
		a.Agent = pacs009.Agent{BIC: settlement.BIC(r.cfg.Agent.BIC), SchemeAccount: r.cfg.Agent.SchemeAccount, Accounts: map[settlement.BIC]string{}}
		for b, acct := range r.cfg.Agent.Accounts {
			bic, _ := settlement.ParseBIC(b)
			a.Agent.Accounts[bic] = acct
		}
	}
	return a
}

// agentIntake takes the agent's answers; ok false without an agent.
func (r *runtime) agentIntake(p *jobs.Pipeline) (*jobs.AgentIntake, bool) {
	if r.cfg.Agent.BIC == "" {
		return nil, false
	}
	dir := r.cfg.Agent.Keys
	return &jobs.AgentIntake{Agent: settlement.BIC(r.cfg.Agent.BIC), Inbox: r.banks, Store: r.jobs, Recorder: r.jobs, Pipeline: p,
		Limits: formats.Limits{Zone: r.cal.Location()}, Now: clock, Log: r.log,
		Keys: func() (signature.Ring, error) {
			if dir == "" {
				return signature.Ring{}, nil
			}
			return signature.LoadDir(dir)
		}}, true
}

// unfundedGauge sets settle_cycle_unfunded{cycle} to 1 for each settled
// cycle the agent has not confirmed agent.unfunded_after after it
// settled, and to 0 for those that came back under it.
func (r *runtime) unfundedGauge(ctx context.Context, set func(cycle string, v float64), seen map[string]bool) error {
	cs, err := r.jobs.Unconfirmed(ctx, clock())
	if err != nil {
		return err
	}
	now := map[string]bool{}
	for _, c := range cs {
		if reconciliation.Unfunded(c.Status, c.SettledAt, clock(), r.cfg.Agent.UnfundedAfter) {
			id := settlement.CycleID(c.Date)
			now[id] = true
			set(id, 1)
		}
	}
	for id := range seen {
		if !now[id] {
			set(id, 0)
			delete(seen, id)
		}
	}
	for id := range now {
		seen[id] = true
	}
	return nil
}

func newAgentCmd() *cobra.Command {
	var file string
	c := &cobra.Command{Use: "agent", Short: "The settlement agent's answers (camt.054, camt.053)"}
	collect := &cobra.Command{
		Use:   "collect",
		Short: "Take the agent's answers waiting now and reconcile the cycles it has not confirmed",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			return runWith(cmd, file, runtimeOpts{ledger: true}, func(r *runtime) error {
				ai, ok := r.agentIntake(r.pipeline(nil))
				if !ok {
					return usageError("config: no agent.bic")
				}
				n, err := ai.Collect(cmd.Context())
				fmt.Fprintf(cmd.OutOrStdout(), "taken %d answers from %s\n", n, r.cfg.Agent.BIC)
				return err
			})
		},
	}
	configFlag(collect, &file)
	c.AddCommand(collect)
	return c
}

func init() { commands = append(commands, newAgentCmd) }
