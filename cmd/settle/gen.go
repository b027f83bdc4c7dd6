package main

import (
	"fmt"

	"github.com/spf13/cobra"

	"settle/adapters/formats/gen"
	"settle/settlement"
)

func init() { commands = append(commands, newGenCmd) }

func newGenCmd() *cobra.Command {
	var cfg gen.Config
	var date, out string
	c := &cobra.Command{
		Use:   "gen --banks N --payments N --date YYYY-MM-DD --out DIR",
		Short: "Write a realistic signed day of payment files, with keys, members and caps",
		Long: `Write a realistic day of payment files for demos and benchmarks: one file per
bank (CSV, or pacs.008 for every --xml-every-th bank), each with its .sig,
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
			w, err := gen.Day(cfg, out)
			if err != nil {
				return usageError("%v", err)
			}
			fmt.Fprintf(cmd.OutOrStdout(), "wrote %d files with %d payments for %s into %s\n", len(w.Files), cfg.Payments, d, out)
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
	return c
}
