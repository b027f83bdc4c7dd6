package main

import (
	"fmt"

	"github.com/spf13/cobra"

	"settle/formats/gen"
	"settle/settlement"
)

func init() { commands = append(commands, newGenCmd) }

func newGenCmd() *cobra.Command {
	var cfg gen.Config
	var date, out, reverse string
	c := &cobra.Command{
		Use:   "gen --banks N --payments N --date YYYY-MM-DD --out DIR",
		Short: "Write a realistic signed day of payment files, with keys, members and caps",
		Long: `Write a realistic day of payment files for demos and benchmarks: one file per
bank (CSV, or pacs.008 for every --xml-every-th bank, every --apphdr-every-th
of those in a head.001 envelope), each with its .sig, and with --reverse DATE
a pacs.007 file per bank reversing every --reversal-every-th payment it sent
on that earlier day (generated with the same --seed and --banks),
public keys in DIR/keys, private keys in DIR/private (0600), DIR/members.txt
and DIR/caps.csv. The same --seed gives the same payments; keys are random.`,
		RunE: func(cmd *cobra.Command, args []string) error {
			if len(args) > 0 {
				return usageError("gen takes no arguments")
			}
			if out == "" {
				return usageError("--out is required")
			}
			d, err := settlement.ParseDate(date)
			if err != nil {
				return usageError("--date: %v", err)
			}
			cfg.Date = d
			if reverse != "" {
				r, err := settlement.ParseDate(reverse)
				if err != nil {
					return usageError("--reverse: %v", err)
				}
				cfg.ReverseDate = r
				if cfg.ReversalEvery <= 0 {
					cfg.ReversalEvery = 100
				}
			}
			w, err := gen.Day(cfg, out)
			if err != nil {
				return usageError("%v", err)
			}
			fmt.Fprintf(cmd.OutOrStdout(), "wrote %d files with %d payments and %d reversals for %s into %s\n", len(w.Files), cfg.Payments, w.Reversals, d, out)
			fmt.Fprintf(cmd.OutOrStdout(), "next: settle net --keys %s --members %s --caps %s %s/files/*.csv %s/files/*.xml\n", w.KeysDir, w.Members, w.Caps, out, out)
			return nil
		},
	}
	c.Flags().IntVar(&cfg.Banks, "banks", 5, "member banks")
	c.Flags().IntVar(&cfg.Payments, "payments", 1000, "payments across all banks")
	c.Flags().StringVar(&date, "date", "", "business date YYYY-MM-DD")
	c.Flags().StringVar(&out, "out", "", "output directory")
	c.Flags().Uint64Var(&cfg.Seed, "seed", 1, "seed of the payments")
	c.Flags().IntVar(&cfg.XMLEvery, "xml-every", 0, "every N-th bank sends pacs.008 XML instead of CSV (0: all CSV)")
	c.Flags().IntVar(&cfg.FilePaymentsMax, "file-payments", 0, "at most N payments a file: a bank's day goes in files -001, -002, ... (0: one file a bank)")
	c.Flags().IntVar(&cfg.AppHdrEvery, "apphdr-every", 0, "every N-th pacs.008 file comes in a business application header envelope (0: none)")
	c.Flags().StringVar(&reverse, "reverse", "", "an earlier business date YYYY-MM-DD: each bank also reverses some of its payments of that day in a pacs.007 file")
	c.Flags().StringVar(&cfg.KeysFrom, "keys-from", "", "sign with the private keys an earlier gen wrote into DIR/private (a second day of the same banks)")
	c.Flags().IntVar(&cfg.ReversePayments, "reverse-payments", 0, "with --reverse: the --payments that earlier day was generated with (default: this day's)")
	c.Flags().IntVar(&cfg.ReversalEvery, "reversal-every", 0, "with --reverse: reverse every N-th payment of that day (default 100)")
	return c
}
