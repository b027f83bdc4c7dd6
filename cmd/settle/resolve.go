package main

import (
	"bufio"
	"bytes"
	"cmp"
	"crypto/sha256"
	"errors"
	"fmt"
	"io"
	"os"
	goruntime "runtime"
	"slices"
	"sync"
	"text/tabwriter"
	"time"

	"settle/formats"
	"settle/formats/csvfile"
	"settle/formats/xmlfile"
	"settle/intake"
	"settle/settlement"
)

// resolveOutput is the "resolution" of `settle net --resolve`: what the
// gridlock resolution would defer, bank by bank, and the positions of what
// would settle; or, when reversals alone break a cap, the banks that hold
// the cycle (and nothing deferred).
type resolveOutput struct {
	Entries   int64                       `json:"entries"`
	Settled   int64                       `json:"settled"`
	Deferred  int64                       `json:"deferred"`
	Deferrals []settlement.Deferral       `json:"deferrals"`
	Held      []settlement.ReversalBreach `json:"held"`
	Positions []settlement.Position       `json:"positions"`
}

// resolveFiles reads the accepted files again (the check streams entries
// and keeps none) and resolves them against the caps. With no ledger to
// say in which order files were recorded, a bank's files are taken in the
// order of their header's creation time, then file id: the order in which
// the service, receiving them as they were made, would record them. So the
// answer, like the netting, does not depend on the order of the arguments.
//
// checked[i] is the check's verdict on files[i]: the second read must give
// the same bytes (its SHA-256), so a file swapped in between, signed or
// not, is refused; its entry count sizes the slice the entries are held
// in, without their remittance information, which the resolution does not
// read. Files are read a CPU each at a time.
func resolveFiles(files []string, checked []*intake.Result, zone *time.Location, caps []settlement.Cap) (*resolveOutput, error) {
	lim := formats.DefaultLimits
	lim.Zone = zone
	all, err := rereadFiles(files, checked, lim)
	if err != nil {
		return nil, err
	}
	entries := make([][]settlement.Entry, len(all))
	for i, r := range all {
		entries[i] = r.entries
	}
	q, err := settlement.OrderQueues(entries)
	if err != nil {
		return nil, err
	}
	out := &resolveOutput{Entries: q.Entries(), Deferrals: []settlement.Deferral{},
		Held: []settlement.ReversalBreach{}, Positions: []settlement.Position{}}
	res, err := q.Resolve(caps)
	var held *settlement.ReversalsOverCapError
	switch {
	case errors.As(err, &held):
		out.Held = held.Breaches
		return out, nil
	case err != nil:
		return nil, err
	}
	// Relied upon here: what settles sums to zero in every currency.
	if err := settlement.AssertBalanced(res.Positions); err != nil {
		return nil, err
	}
	out.Settled, out.Deferred = res.Settled, res.Entries-res.Settled
	if res.Deferrals != nil {
		out.Deferrals = res.Deferrals
	}
	if res.Positions != nil {
		out.Positions = res.Positions
	}
	return out, nil
}

// reread is a file read a second time: its name, header and entries.
type reread struct {
	name    string
	header  settlement.Header
	entries []settlement.Entry
}

// rereadFiles reads every file again, a CPU each at a time, and returns
// them in the order resolveFiles says (header creation time, file id,
// name); every file that cannot be read, or changed, is an error.
func rereadFiles(files []string, checked []*intake.Result, lim formats.Limits) ([]reread, error) {
	all := make([]reread, len(files))
	errs := make([]error, len(files))
	next := make(chan int)
	var wg sync.WaitGroup
	for w := 0; w < goruntime.GOMAXPROCS(0); w++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := range next {
				all[i], errs[i] = rereadFile(files[i], checked[i], lim)
			}
		}()
	}
	for i := range files {
		next <- i
	}
	close(next)
	wg.Wait()
	if err := errors.Join(errs...); err != nil {
		return nil, err
	}
	slices.SortStableFunc(all, func(a, b reread) int {
		if c := a.header.CreatedAt.Compare(b.header.CreatedAt); c != 0 {
			return c
		}
		return cmp.Or(cmp.Compare(a.header.FileID, b.header.FileID), cmp.Compare(a.name, b.name))
	})
	return all, nil
}

// rereadFile parses name again; its bytes must hash to what the check saw
// (checked), whose entry count sizes the slice the entries are held in.
func rereadFile(name string, checked *intake.Result, lim formats.Limits) (reread, error) {
	f, err := os.Open(name)
	if err != nil {
		return reread{}, err
	}
	defer f.Close()
	h := sha256.New()
	r := io.TeeReader(f, h)
	c := collector{entries: make([]settlement.Entry, 0, checked.Entries)}
	switch intake.Format(name) {
	case "csv":
		err = csvfile.Parse(r, lim, &c)
	case "xml":
		err = xmlfile.Parse(r, lim, &c)
	default:
		err = fmt.Errorf("not a payment file name")
	}
	if err == nil {
		_, err = io.Copy(io.Discard, r)
	}
	if err != nil {
		return reread{}, fmt.Errorf("%s: %w", name, err)
	}
	if !bytes.Equal(h.Sum(nil), checked.SHA256[:]) || c.problem != nil {
		return reread{}, fmt.Errorf("%s: changed since it was checked", name)
	}
	return reread{name, c.header, c.entries}, nil
}

// collector keeps a file's header and entries; any problem means the file
// is not the one that was accepted a moment ago.
type collector struct {
	header  settlement.Header
	entries []settlement.Entry
	problem *settlement.Problem
}

func (c *collector) Header(h *settlement.Header, ok bool) { c.header = *h }
func (c *collector) Entry(e *settlement.Entry, ok bool) {
	c.entries = append(c.entries, *e)
	c.entries[len(c.entries)-1].Remittance = ""
}
func (c *collector) Trailer(*settlement.Trailer, bool) {}
func (c *collector) Problem(p settlement.Problem) {
	if c.problem == nil {
		c.problem = &p
	}
}

func printResolution(w io.Writer, r *resolveOutput) error {
	if len(r.Held) > 0 {
		fmt.Fprintln(w, "\nGridlock resolution: held for the operator, reversals alone exceed a cap")
		tw := tabwriter.NewWriter(w, 2, 4, 2, ' ', 0)
		for _, h := range r.Held {
			fmt.Fprintf(tw, "%s\t%s\tnet %s\tcap %s\treversals %v\t\n", h.Currency, h.Bank,
				settlement.FormatAmount(h.Net, h.Currency), settlement.FormatAmount(h.Cap, h.Currency), h.Reversals)
		}
		return tw.Flush()
	}
	fmt.Fprintf(w, "\nGridlock resolution: %d of %d entries settle, %d deferred\n", r.Settled, r.Entries, r.Deferred)
	if len(r.Deferrals) == 0 {
		fmt.Fprintln(w, "Nothing deferred")
		return nil
	}
	tw := tabwriter.NewWriter(w, 2, 4, 2, ' ', tabwriter.AlignRight)
	fmt.Fprintln(tw, "currency\tbank\tcap\tnet\tsettled net\tdeferred\tpayments\t")
	for _, d := range r.Deferrals {
		c := d.Currency
		fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\t%s\t%d\t\n", c, d.Bank, settlement.FormatAmount(d.Cap, c),
			settlement.FormatAmount(d.Net, c), settlement.FormatAmount(d.Settled, c), settlement.FormatAmount(d.Amount, c), len(d.Payments))
	}
	tw.Flush()
	// Not through the tabwriter, which holds every cell until it flushes:
	// a cycle may defer a million payments.
	fmt.Fprintln(w, "\nDeferred payments, in queue order")
	var amounts []string
	width := 0
	for _, d := range r.Deferrals {
		for _, e := range d.Payments {
			a := settlement.FormatAmount(e.Amount, e.Currency)
			amounts = append(amounts, a)
			width = max(width, len(a))
		}
	}
	bw := bufio.NewWriter(w)
	i := 0
	for _, d := range r.Deferrals {
		for _, e := range d.Payments {
			fmt.Fprintf(bw, "  %s  %s ->  %-11s  %*s  %s\n", e.Currency, e.Debtor, e.Creditor, width, amounts[i], e.ID)
			i++
		}
	}
	if err := bw.Flush(); err != nil {
		return err
	}
	fmt.Fprintln(w, "\nNet positions of what settles")
	printPositions(w, r.Positions)
	return nil
}
