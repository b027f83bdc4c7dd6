package main

import (
	"bufio"
	"encoding/csv"
	"fmt"
	"io"
	"os"
	"strings"

	"settle/settlement"
)

// configLinesMax bounds the operator's member and cap files.
const configLinesMax = 100_000

// readLines yields the meaningful lines of a small config file: trimmed,
// without blank lines and # comments, with their line numbers.
func readLines(file string, fn func(line int, text string) error) error {
	f, err := os.Open(file)
	if err != nil {
		return err
	}
	defer f.Close()
	sc := bufio.NewScanner(f)
	n := 0
	for sc.Scan() {
		n++
		if n > configLinesMax {
			return fmt.Errorf("%s: more than %d lines", file, configLinesMax)
		}
		t := strings.TrimSpace(sc.Text())
		if t == "" || strings.HasPrefix(t, "#") {
			continue
		}
		if err := fn(n, t); err != nil {
			return fmt.Errorf("%s:%d: %w", file, n, err)
		}
	}
	return sc.Err()
}

// loadMembers reads one BIC per line.
func loadMembers(file string) (map[settlement.BIC]bool, error) {
	m := map[settlement.BIC]bool{}
	err := readLines(file, func(_ int, t string) error {
		b, err := settlement.ParseBIC(t)
		if err != nil {
			return err
		}
		m[b] = true
		return nil
	})
	return m, err
}

// loadCaps reads "bic,currency,cap" lines (a first line naming those
// columns is allowed). Caps are positive and in the currency's scale.
func loadCaps(file string) ([]settlement.Cap, error) {
	var caps []settlement.Cap
	seen := map[string]int{}
	first := true
	err := readLines(file, func(n int, t string) error {
		if first && strings.EqualFold(strings.ReplaceAll(t, " ", ""), "bic,currency,cap") {
			first = false
			return nil
		}
		first = false
		f := strings.Split(t, ",")
		if len(f) != 3 {
			return fmt.Errorf("want bic,currency,cap; got %d fields", len(f))
		}
		bic, err := settlement.ParseBIC(strings.TrimSpace(f[0]))
		if err != nil {
			return err
		}
		cur, err := settlement.ParseCurrency(strings.TrimSpace(f[1]))
		if err != nil {
			return err
		}
		amt, err := settlement.ParseAmount([]byte(strings.TrimSpace(f[2])), cur)
		if err != nil {
			return fmt.Errorf("cap: %w", err)
		}
		k := string(bic) + "/" + cur.Code()
		if prev, dup := seen[k]; dup {
			return fmt.Errorf("second cap for %s %s (first on line %d)", bic, cur, prev)
		}
		seen[k] = n
		caps = append(caps, settlement.Cap{Bank: bic, Currency: cur, Amount: amt})
		return nil
	})
	return caps, err
}

// ioLimit bounds how much of a config file is read.
func ioLimit(r io.Reader, n int64) io.Reader { return io.LimitReader(r, n) }

func csvWriter(w io.Writer) *csv.Writer { return csv.NewWriter(w) }
