package main

import (
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/spf13/cobra"
	"golang.org/x/term"

	"settle/intake"
	"settle/jobs"
	"settle/settlement"
	"settle/signature"
)

func init() { commands = append(commands, newValidateCmd, newNetCmd) }

type checkFlags struct {
	keys    string
	members string
	zone    string
}

func (f *checkFlags) register(c *cobra.Command) {
	c.Flags().StringVar(&f.keys, "keys", "", "directory of PEM public keys <BIC>.pem or <BIC>.<label>.pem; every file must then carry a valid .sig")
	c.Flags().StringVar(&f.members, "members", "", "file with one member BIC per line; any other bank is an error")
	c.Flags().StringVar(&f.zone, "zone", jobs.DefaultZone, "the scheme's IANA time zone, in which an ISO 20022 CreDtTm without an offset is read")
}

// options turns the flags into check options; a flag file that cannot be
// read is bad usage (exit 2), not a rejected payment file.
func (f *checkFlags) options(stderr io.Writer) (intake.Options, error) {
	var opts intake.Options
	if f.keys != "" {
		ring, err := signature.LoadDir(f.keys)
		if err != nil {
			return opts, usageError("--keys: %v", err)
		}
		opts.Keys = ring
	} else {
		fmt.Fprintln(stderr, "settle: warning: no --keys given, signatures are NOT checked")
	}
	if f.members != "" {
		m, err := loadMembers(f.members)
		if err != nil {
			return opts, usageError("--members: %v", err)
		}
		opts.Member = func(b settlement.BIC) bool { return m[b] }
	}
	loc, err := time.LoadLocation(f.zone)
	if err != nil {
		return opts, usageError("--zone: %v", err)
	}
	opts.Limits.Zone = loc
	return opts, nil
}

func inputs(files []string) ([]intake.Input, error) {
	in := make([]intake.Input, 0, len(files))
	for _, name := range files {
		st, err := os.Stat(name)
		if err != nil {
			return nil, usageError("%v", err)
		}
		if st.IsDir() {
			return nil, usageError("%s is a directory; give the payment files", name)
		}
		name := name
		in = append(in, intake.Input{
			Name: name,
			Open: func() (io.ReadCloser, error) { return os.Open(name) },
			Sig: func() (intake.Sig, error) {
				f, err := os.Open(intake.SigName(name))
				if errors.Is(err, fs.ErrNotExist) {
					return intake.Sig{}, nil
				}
				if err != nil {
					return intake.Sig{}, err
				}
				defer f.Close()
				b, err := io.ReadAll(io.LimitReader(f, signature.SigBytesMax+1))
				return intake.Sig{Present: true, Bytes: b}, err
			},
		})
	}
	return in, nil
}

// check runs one offline cycle over the files and prints every problem on
// stderr as FILE:LINE: CODE: message.
func check(cmd *cobra.Command, f *checkFlags, files []string) (*intake.CycleResult, error) {
	if len(files) == 0 {
		return nil, usageError("give at least one payment file")
	}
	opts, err := f.options(cmd.ErrOrStderr())
	if err != nil {
		return nil, err
	}
	in, err := inputs(files)
	if err != nil {
		return nil, err
	}
	res, err := intake.CheckCycle(cmd.Context(), in, opts, 0)
	if err != nil {
		return nil, err
	}
	for _, r := range res.Files {
		for _, p := range r.Problems {
			msg := p.Message
			if p.Field != "" {
				msg = p.Field + ": " + msg
			}
			fmt.Fprintf(cmd.ErrOrStderr(), "%s:%d: %s: %s\n", r.Name, p.Line, p.Code, oneLine(msg))
		}
	}
	return res, nil
}

func oneLine(s string) string { return strings.NewReplacer("\n", `\n`, "\r", `\r`).Replace(s) }

func newValidateCmd() *cobra.Command {
	var f checkFlags
	c := &cobra.Command{
		Use:   "validate [--keys DIR] [--members FILE] FILE...",
		Short: "Check payment files (and their signatures) as the system would at intake",
		Long: `Check payment files as one cycle: signatures, format, every rule of the
contract, and duplicates across the files. Exit status: 0 all files valid,
1 at least one file rejected (every problem on stderr as FILE:LINE: CODE: message),
2 bad usage.`,
		RunE: func(cmd *cobra.Command, args []string) error {
			res, err := check(cmd, &f, args)
			if err != nil {
				return err
			}
			w := tabwriter.NewWriter(cmd.OutOrStdout(), 2, 4, 2, ' ', 0)
			for _, r := range res.Files {
				fmt.Fprintf(w, "%s\t%s\t%s\t%d entries\tcontrol sum %s\n", r.Name, r.Status(), r.FileID, r.Entries, r.ControlSum)
			}
			w.Flush()
			if !res.Accepted() {
				return &exitError{code: 1, err: errors.New("")}
			}
			return nil
		},
	}
	f.register(c)
	return c
}

// netOutput is the JSON contract of `settle net`.
type netOutput struct {
	Files       int                     `json:"files"`
	Entries     int64                   `json:"entries"`
	Positions   []settlement.Position   `json:"positions"`
	Bilateral   []settlement.Obligation `json:"bilateral"`
	CapBreaches []settlement.CapBreach  `json:"cap_breaches"`
	Resolution  *resolveOutput          `json:"resolution,omitempty"` // with --resolve only
}

func newNetCmd() *cobra.Command {
	var f checkFlags
	var caps, format string
	var resolve bool
	c := &cobra.Command{
		Use:   "net [--keys DIR] [--members FILE] [--caps FILE] [--resolve] [--format json|text] FILE...",
		Short: "Validate payment files as one cycle and print multilateral net positions",
		Long: `Validate payment files as one cycle and, if every file is accepted, net them:
per bank and currency sent, received and net (= received - sent), bilateral net
obligations, and banks whose net debit exceeds their cap. With --resolve, also
what gridlock resolution would defer: the greatest set of payments that fits
every cap, each bank's queue taken HIGH first, then by file (header creation
time, then file id), then position in the file; the rest deferred per bank and
currency with amounts and payment ids, or the banks whose reversals alone break
their cap (the cycle would be held). Exit status: 0 all files valid, 1 at least
one file rejected (nothing netted), 2 bad usage.`,
		RunE: func(cmd *cobra.Command, args []string) error {
			if format == "" {
				format = "json"
				if fd, ok := cmd.OutOrStdout().(*os.File); ok && term.IsTerminal(int(fd.Fd())) {
					format = "text"
				}
			}
			if format != "json" && format != "text" {
				return usageError("--format must be json or text, not %q", format)
			}
			var capList []settlement.Cap
			if caps != "" {
				var err error
				if capList, err = loadCaps(caps); err != nil {
					return usageError("--caps: %v", err)
				}
			}
			res, err := check(cmd, &f, args)
			if err != nil {
				return err
			}
			if !res.Accepted() {
				return &exitError{code: 1, err: errors.New("")} // stderr holds only FILE:LINE: CODE: message lines
			}
			out := netOutput{Files: len(res.Files), Entries: res.Net.Entries,
				Positions: res.Net.Positions, Bilateral: res.Net.Bilateral}
			if caps != "" {
				// Without --caps there is nothing to check against: a missing
				// cap means a cap of zero (settlement.Cap), which would flag
				// every net debtor.
				out.CapBreaches = settlement.CapBreaches(res.Net.Positions, capList)
			}
			if out.Positions == nil {
				out.Positions = []settlement.Position{}
			}
			if out.Bilateral == nil {
				out.Bilateral = []settlement.Obligation{}
			}
			if out.CapBreaches == nil {
				out.CapBreaches = []settlement.CapBreach{}
			}
			if resolve {
				zone, err := time.LoadLocation(f.zone) // the check has loaded it already
				if err != nil {
					return usageError("--zone: %v", err)
				}
				if out.Resolution, err = resolveFiles(args, res.Files, zone, capList); err != nil {
					return err
				}
			}
			if format == "json" {
				enc := json.NewEncoder(cmd.OutOrStdout())
				return enc.Encode(out)
			}
			return printNet(cmd.OutOrStdout(), out)
		},
	}
	f.register(c)
	c.Flags().StringVar(&caps, "caps", "", "CSV file of net debit caps: bic,currency,cap")
	c.Flags().BoolVar(&resolve, "resolve", false, "also show what gridlock resolution would defer to fit every cap")
	c.Flags().StringVar(&format, "format", "", "json or text (default: text on a terminal, json otherwise)")
	return c
}

func printNet(w io.Writer, out netOutput) error {
	fmt.Fprintf(w, "%d files, %d entries\n\nNet positions\n", out.Files, out.Entries)
	printPositions(w, out.Positions)
	tw := tabwriter.NewWriter(w, 2, 4, 2, ' ', tabwriter.AlignRight)
	fmt.Fprintln(w, "\nBilateral net obligations")
	for _, o := range out.Bilateral {
		fmt.Fprintf(tw, "%s\t%s ->\t%s\t%s\t\n", o.Currency, o.From, o.To, settlement.FormatAmount(o.Amount, o.Currency))
	}
	tw.Flush()
	if len(out.CapBreaches) == 0 {
		fmt.Fprintln(w, "\nNo net debit cap exceeded")
	} else {
		fmt.Fprintln(w, "\nNet debit caps exceeded")
		for _, b := range out.CapBreaches {
			fmt.Fprintf(tw, "%s\t%s\tnet %s\tcap %s\t\n", b.Currency, b.Bank, settlement.FormatAmount(b.Net, b.Currency), settlement.FormatAmount(b.Cap, b.Currency))
		}
		if err := tw.Flush(); err != nil {
			return err
		}
	}
	if out.Resolution != nil {
		return printResolution(w, out.Resolution)
	}
	return nil
}

func printPositions(w io.Writer, ps []settlement.Position) {
	tw := tabwriter.NewWriter(w, 2, 4, 2, ' ', tabwriter.AlignRight)
	fmt.Fprintln(tw, "currency\tbank\tsent\treceived\tnet\t")
	for _, p := range ps {
		c := p.Currency
		fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\t\n", c, p.Bank, settlement.FormatAmount(p.Sent, c),
			settlement.FormatAmount(p.Received, c), settlement.FormatAmount(p.Net, c))
	}
	tw.Flush()
}
