package main

import (
	"bufio"
	"context"
	"fmt"
	"io"
	"log/slog"
	"os"
	"strings"
	"time"

	"github.com/shopspring/decimal"
	"github.com/spf13/cobra"

	"settle/jobs"
	"settle/ledger/fabric"
	"settle/settlement"
)

// ledgerCmdTimeout bounds one ledger subcommand.
const ledgerCmdTimeout = 5 * time.Minute

func init() { commands = append(commands, newLedgerCmd) }

func newLedgerCmd() *cobra.Command {
	c := &cobra.Command{
		Use:   "ledger ping|register-banks|found|keys",
		Short: "Talk to the Fabric ledger: health check, bootstrap the bank registry and caps",
	}
	c.AddCommand(append([]*cobra.Command{newLedgerPingCmd(), newLedgerRegisterBanksCmd(), newLedgerSettingCmd()}, ledgerGovCmds()...)...)
	return c
}

// newLedgerPingCmd is `settle ledger ping`: a no-op transaction committed.
func newLedgerPingCmd() *cobra.Command {
	var pfile string
	ping := &cobra.Command{
		Use:   "ping [--config F]",
		Short: "Commit a majority-endorsed no-op transaction; print its tx id, block and endorsers",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			cfg, err := loadConfig(pfile)
			if err != nil {
				return err
			}
			ctx, cancel := context.WithTimeout(cmd.Context(), ledgerCmdTimeout)
			defer cancel()
			l, err := openFabric(ctx, cfg, newLogger(slog.LevelWarn))
			if err != nil {
				return err
			}
			defer l.Close()
			start := time.Now()
			tx, err := l.Ping(ctx)
			if err != nil {
				return err
			}
			printTx(cmd.OutOrStdout(), "ping", tx)
			fmt.Fprintf(cmd.OutOrStdout(), "committed in %s\n", time.Since(start).Round(time.Millisecond))
			return nil
		},
	}
	configFlag(ping, &pfile)
	return ping
}

// newLedgerRegisterBanksCmd is `settle ledger register-banks`: the ledger's
// bank registry and caps bootstrapped.
func newLedgerRegisterBanksCmd() *cobra.Command {
	var rfile, banks, caps string
	var fromStore bool
	reg := &cobra.Command{
		Use:   "register-banks [--config F] (--from-store | --banks BIC=MSP,... [--caps FILE])",
		Short: "Register banks (BIC -> MSP) and their net debit caps on the ledger; idempotent",
		Long: `Bootstraps the ledger's bank registry and caps, each a majority-endorsed transaction.
--from-store takes every bank of the store's banks table that has a ledger_msp, and the
current caps. Otherwise --banks lists BIC=MSP pairs and --caps a file of lines
"BIC CURRENCY AMOUNT" (# comments allowed). Re-running is safe: a bank already registered
under the same MSP, or a cap already at that amount, is reported as existing.`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			cfg, err := loadConfig(rfile)
			if err != nil {
				return err
			}
			ctx, cancel := context.WithTimeout(cmd.Context(), ledgerCmdTimeout)
			defer cancel()
			pairs, capList, err := registrations(ctx, cfg, fromStore, banks, caps)
			if err != nil {
				return err
			}
			l, err := openFabric(ctx, cfg, newLogger(slog.LevelWarn))
			if err != nil {
				return err
			}
			defer l.Close()
			return register(ctx, cmd.OutOrStdout(), l, pairs, capList, fromStore)
		},
	}
	configFlag(reg, &rfile)
	reg.Flags().BoolVar(&fromStore, "from-store", false, "take banks (with a ledger_msp) and caps from the database")
	reg.Flags().StringVar(&banks, "banks", "", "BIC=MSP pairs, comma-separated")
	reg.Flags().StringVar(&caps, "caps", "", `file of "BIC CURRENCY AMOUNT" lines`)
	return reg
}

// registrations are the banks (BIC, MSP) and caps register-banks writes:
// from the store (--from-store), or from --banks and --caps.
func registrations(ctx context.Context, cfg Config, fromStore bool, banks, caps string) (pairs [][2]string, capList []settlement.Cap, err error) {
	switch {
	case fromStore && banks == "" && caps == "":
		s, err := openStore(ctx, cfg.Database)
		if err != nil {
			return nil, nil, err
		}
		bs, err := s.Banks(ctx)
		if err == nil {
			capList, err = s.Caps(ctx)
		}
		s.Close()
		if err != nil {
			return nil, nil, err
		}
		for _, b := range bs {
			if b.LedgerMSP != "" {
				pairs = append(pairs, [2]string{string(b.BIC), b.LedgerMSP})
			}
		}
	case !fromStore && banks != "":
		for _, p := range strings.Split(banks, ",") {
			bic, msp, ok := strings.Cut(strings.TrimSpace(p), "=")
			if !ok || msp == "" {
				return nil, nil, usageError("--banks: %q is not BIC=MSP", p)
			}
			pairs = append(pairs, [2]string{bic, msp})
		}
		if caps != "" && cfg.Ledger.Governed {
			// On the governed path a cap reaches the ledger only from the
			// store, where raising one needs a second operator (bank cap
			// raise, then approve): a file of caps would pass that by.
			return nil, nil, usageError("--caps: on the governed ledger caps come only from the store (bank cap raise, then another operator's approve; then --from-store)")
		}
		if caps != "" {
			if capList, err = readCaps(caps); err != nil {
				return nil, nil, err
			}
		}
	default:
		return nil, nil, usageError("give either --from-store or --banks (with optional --caps)")
	}
	return pairs, capList, nil
}

// register writes the banks, then the caps, to the ledger, one transaction
// each; from the store, a bank without a ledger organisation gets no cap.
func register(ctx context.Context, w io.Writer, l *fabric.Client, pairs [][2]string, capList []settlement.Cap, fromStore bool) error {
	registered := map[settlement.BIC]bool{}
	for _, p := range pairs {
		bic, err := settlement.ParseBIC(p[0])
		if err != nil {
			return usageError("%v", err)
		}
		tx, err := l.RegisterBank(ctx, bic, p[1])
		if err != nil {
			return err
		}
		registered[bic] = true
		printTx(w, fmt.Sprintf("bank %s -> %s", bic, p[1]), tx)
	}
	for _, cp := range capList {
		if fromStore && !registered[cp.Bank] {
			continue // the bank has no ledger organisation
		}
		tx, err := l.SetCap(ctx, cp)
		if err != nil {
			return err
		}
		printTx(w, fmt.Sprintf("cap %s %s %s", cp.Bank, cp.Currency, settlement.FormatAmount(cp.Amount, cp.Currency)), tx)
	}
	return nil
}

func printTx(w io.Writer, what string, tx jobs.LedgerTx) {
	state := "committed"
	if tx.Existing {
		state = "existing"
	}
	fmt.Fprintf(w, "%s: %s tx %s block %d endorsed by %s\n", what, state, tx.ID, tx.Block, strings.Join(tx.Endorsers, ","))
}

// capsFileBytesMax bounds the caps file.
const capsFileBytesMax = 1 << 20

// readCaps reads "BIC CURRENCY AMOUNT" lines.
func readCaps(path string) ([]settlement.Cap, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	var out []settlement.Cap
	var problems []string
	sc := bufio.NewScanner(io.LimitReader(f, capsFileBytesMax))
	for line := 1; sc.Scan(); line++ {
		text := strings.TrimSpace(sc.Text())
		if text == "" || strings.HasPrefix(text, "#") {
			continue
		}
		fields := strings.Fields(text)
		if len(fields) != 3 {
			problems = append(problems, fmt.Sprintf("%s:%d: want BIC CURRENCY AMOUNT", path, line))
			continue
		}
		bic, err := settlement.ParseBIC(fields[0])
		if err != nil {
			problems = append(problems, fmt.Sprintf("%s:%d: %v", path, line, err))
			continue
		}
		cur, err := settlement.ParseCurrency(fields[1])
		if err != nil {
			problems = append(problems, fmt.Sprintf("%s:%d: %v", path, line, err))
			continue
		}
		amt, err := decimal.NewFromString(fields[2])
		if err != nil || amt.IsNegative() || -amt.Exponent() > int32(cur.MinorUnit()) {
			problems = append(problems, fmt.Sprintf("%s:%d: amount %q: non-negative, at most %d decimals", path, line, fields[2], cur.MinorUnit()))
			continue
		}
		out = append(out, settlement.Cap{Bank: bic, Currency: cur, Amount: amt})
	}
	if err := sc.Err(); err != nil {
		return nil, err
	}
	if len(problems) > 0 {
		return nil, fmt.Errorf("caps file:\n%s", strings.Join(problems, "\n"))
	}
	return out, nil
}
