package settlement

import (
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"sort"

	"github.com/shopspring/decimal"
)

// PositionsSHA256 is the fingerprint of a cycle's net positions: the hex
// SHA-256 of their canonical text, so that the positions the ledger settled
// and those Postgres holds can be compared at a glance (the console's
// Positions page) and recomputed by anyone with sha256sum.
//
// The canonical text has one line per bank and currency whose net is not
// zero, "BIC CCY NET\n", sorted by BIC then currency code in byte order (the
// order the chaincode lists a settled cycle's positions in), NET written
// with exactly the currency's minor digits and a leading "-" for a debit.
// A bank that nets to zero moves no money and is left out, as the ledger
// leaves it out of a settled cycle; two lines of one bank and currency are
// summed. Only Bank, Currency and Net are read.
//
// A net with more decimals than its currency has is refused (ErrAmountScale)
// rather than rounded: a fingerprint of a rounded figure would vouch for an
// amount that is not the one held.
func PositionsSHA256(ps []Position) (string, error) {
	text, err := PositionsText(ps)
	if err != nil {
		return "", err
	}
	sum := sha256.Sum256(text)
	return hex.EncodeToString(sum[:]), nil
}

// PositionsText is the canonical text PositionsSHA256 hashes.
func PositionsText(ps []Position) ([]byte, error) {
	type key struct {
		bank BIC
		code string
	}
	nets := map[key]decimal.Decimal{}
	curs := map[key]Currency{}
	for _, p := range ps {
		if p.Currency.Code() == "" {
			return nil, fmt.Errorf("%w: position of %s has no currency", ErrCurrency, p.Bank)
		}
		bank, err := ParseBIC(string(p.Bank))
		if err != nil {
			return nil, fmt.Errorf("position: %w", err)
		}
		k := key{bank, p.Currency.Code()}
		nets[k] = nets[k].Add(p.Net)
		curs[k] = p.Currency
	}
	keys := make([]key, 0, len(nets))
	for k, n := range nets {
		if !n.IsZero() {
			keys = append(keys, k)
		}
	}
	sort.Slice(keys, func(i, j int) bool {
		if keys[i].bank != keys[j].bank {
			return keys[i].bank < keys[j].bank
		}
		return keys[i].code < keys[j].code
	})
	var out []byte
	for _, k := range keys {
		net, err := FormatAmountExact(nets[k], curs[k])
		if err != nil {
			return nil, fmt.Errorf("position of %s in %s: %w", k.bank, k.code, err)
		}
		out = fmt.Appendf(out, "%s %s %s\n", k.bank, k.code, net)
	}
	return out, nil
}
