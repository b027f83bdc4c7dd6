package postgres

import (
	"context"
	"crypto/ecdsa"
	"crypto/ed25519"
	"crypto/elliptic"
	"crypto/x509"
	"database/sql"
	"encoding/pem"
	"errors"
	"fmt"
	"time"

	"github.com/shopspring/decimal"

	"settle/settlement"
)

// Bank is a member of the consortium.
type Bank struct {
	BIC       settlement.BIC
	Name      string
	Status    string // ACTIVE, SUSPENDED, LEFT
	LedgerMSP string // Fabric MSP id of the bank's ledger organization; "" if none
	CreatedAt time.Time
}

// Key types a bank may register (shared/spec/payment-files.md).
const (
	KeyEd25519   = "ed25519"
	KeyECDSAP256 = "ecdsa-p256"
)

// BankKey is a bank's public key for file signatures. A bank may hold more
// than one during a rotation.
type BankKey struct {
	Bank      settlement.BIC
	Label     string
	Type      string // KeyEd25519 or KeyECDSAP256, derived from the PEM
	PEM       string
	ValidFrom time.Time
	ValidTo   *time.Time
	RevokedAt *time.Time
}

// Errors of bank administration.
var (
	ErrBankExists  = errors.New("bank already exists")
	ErrNoBank      = errors.New("no such bank")
	ErrKeyExists   = errors.New("bank already has a key with that label")
	ErrNoKey       = errors.New("no such key, or already revoked")
	ErrKey         = errors.New("not a PEM PUBLIC KEY of type Ed25519 or ECDSA P-256")
	ErrKeyValidity = errors.New("key validity must end after it starts")
)

// pemBytesMax bounds a key file; a P-256 PEM is under 200 bytes.
const pemBytesMax = 4096

// KeyType parses a PEM "PUBLIC KEY" (PKIX) and tells its type.
func KeyType(pemText []byte) (string, error) {
	if len(pemText) > pemBytesMax {
		return "", fmt.Errorf("%w: %d bytes", ErrKey, len(pemText))
	}
	blk, rest := pem.Decode(pemText)
	if blk == nil || blk.Type != "PUBLIC KEY" {
		return "", ErrKey
	}
	if b2, _ := pem.Decode(rest); b2 != nil {
		return "", fmt.Errorf("%w: more than one PEM block", ErrKey)
	}
	k, err := x509.ParsePKIXPublicKey(blk.Bytes)
	if err != nil {
		return "", fmt.Errorf("%w: %v", ErrKey, err)
	}
	switch k := k.(type) {
	case ed25519.PublicKey:
		return KeyEd25519, nil
	case *ecdsa.PublicKey:
		if k.Curve == elliptic.P256() {
			return KeyECDSAP256, nil
		}
	}
	return "", fmt.Errorf("%w: %T", ErrKey, k)
}

// AddBank registers a new member.
func (s *Store) AddBank(ctx context.Context, b Bank) error {
	if _, err := settlement.ParseBIC(string(b.BIC)); err != nil {
		return err
	}
	_, err := s.db.ExecContext(ctx, `INSERT INTO banks (bic, name, ledger_msp) VALUES ($1, $2, $3)`,
		string(b.BIC), b.Name, nullString(b.LedgerMSP))
	if sqlState(err) == codeUniqueViolation {
		return fmt.Errorf("%s: %w", b.BIC, ErrBankExists)
	}
	return err
}

// Banks lists every member, by BIC.
func (s *Store) Banks(ctx context.Context) ([]Bank, error) {
	rows, err := s.db.QueryContext(ctx, `SELECT bic, name, status, coalesce(ledger_msp, ''), created_at FROM banks ORDER BY bic`)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	var out []Bank
	for rows.Next() {
		var b Bank
		if err := rows.Scan(&b.BIC, &b.Name, &b.Status, &b.LedgerMSP, &b.CreatedAt); err != nil {
			return nil, err
		}
		out = append(out, b)
	}
	return out, rows.Err()
}

// Members returns the set of ACTIVE banks, for settlement.Rules.Member.
func (s *Store) Members(ctx context.Context) (map[settlement.BIC]bool, error) {
	return members(ctx, s.db, true)
}

type queryer interface {
	QueryContext(ctx context.Context, query string, args ...any) (*sql.Rows, error)
}

// membersMax bounds the member table read into memory.
const membersMax = 100000

func members(ctx context.Context, q queryer, activeOnly bool) (map[settlement.BIC]bool, error) {
	rows, err := q.QueryContext(ctx, `SELECT bic FROM banks WHERE status = 'ACTIVE' OR NOT $1 LIMIT $2`, activeOnly, membersMax+1)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	out := map[settlement.BIC]bool{}
	for rows.Next() {
		var b string
		if err := rows.Scan(&b); err != nil {
			return nil, err
		}
		out[settlement.BIC(b)] = true
	}
	if len(out) > membersMax {
		return nil, fmt.Errorf("more than %d banks", membersMax)
	}
	return out, rows.Err()
}

// AddKey registers a public key. Its type is read from the PEM; ValidFrom
// zero means now.
func (s *Store) AddKey(ctx context.Context, k BankKey) error {
	typ, err := KeyType([]byte(k.PEM))
	if err != nil {
		return err
	}
	from := sql.NullTime{Time: k.ValidFrom, Valid: !k.ValidFrom.IsZero()}
	if k.ValidTo != nil && from.Valid && !k.ValidTo.After(k.ValidFrom) {
		return ErrKeyValidity
	}
	_, err = s.db.ExecContext(ctx, `INSERT INTO bank_keys (bank, label, key_type, pem, valid_from, valid_to)
		VALUES ($1, $2, $3, $4, coalesce($5, now()), $6)`,
		string(k.Bank), k.Label, typ, k.PEM, from, k.ValidTo)
	switch {
	case sqlState(err) == codeUniqueViolation:
		return fmt.Errorf("%s %s: %w", k.Bank, k.Label, ErrKeyExists)
	case sqlState(err) == codeForeignKeyViolation:
		return fmt.Errorf("%s: %w", k.Bank, ErrNoBank)
	case sqlState(err) == codeCheckViolation && constraintOf(err) == "bank_keys_check":
		return ErrKeyValidity
	}
	return err
}

// RevokeKey revokes a bank's key from now on. Revoking twice is an error.
func (s *Store) RevokeKey(ctx context.Context, bank settlement.BIC, label string) error {
	res, err := s.db.ExecContext(ctx, `UPDATE bank_keys SET revoked_at = now()
		WHERE bank = $1 AND label = $2 AND revoked_at IS NULL`, string(bank), label)
	if err != nil {
		return err
	}
	if n, _ := res.RowsAffected(); n == 0 {
		return fmt.Errorf("%s %s: %w", bank, label, ErrNoKey)
	}
	return nil
}

// Keys returns the bank's keys valid at time at (not yet revoked then, and
// inside their validity window), newest first: the keys a signature made at
// that time may verify against.
func (s *Store) Keys(ctx context.Context, bank settlement.BIC, at time.Time) ([]BankKey, error) {
	rows, err := s.db.QueryContext(ctx, `SELECT bank, label, key_type, pem, valid_from, valid_to, revoked_at
		FROM bank_keys
		WHERE bank = $1 AND valid_from <= $2 AND (valid_to IS NULL OR valid_to > $2)
		  AND (revoked_at IS NULL OR revoked_at > $2)
		ORDER BY valid_from DESC, id DESC`, string(bank), at)
	if err != nil {
		return nil, err
	}
	return scanKeys(rows)
}

// AllKeys lists every key of a bank, revoked or not.
func (s *Store) AllKeys(ctx context.Context, bank settlement.BIC) ([]BankKey, error) {
	rows, err := s.db.QueryContext(ctx, `SELECT bank, label, key_type, pem, valid_from, valid_to, revoked_at
		FROM bank_keys WHERE bank = $1 ORDER BY valid_from, id`, string(bank))
	if err != nil {
		return nil, err
	}
	return scanKeys(rows)
}

func scanKeys(rows *sql.Rows) ([]BankKey, error) {
	defer rows.Close()
	var out []BankKey
	for rows.Next() {
		var k BankKey
		var to, rev sql.NullTime
		if err := rows.Scan(&k.Bank, &k.Label, &k.Type, &k.PEM, &k.ValidFrom, &to, &rev); err != nil {
			return nil, err
		}
		if to.Valid {
			k.ValidTo = &to.Time
		}
		if rev.Valid {
			k.RevokedAt = &rev.Time
		}
		out = append(out, k)
	}
	return out, rows.Err()
}

// SetCap records a new net debit cap, effective from the given time (zero:
// now). Caps are append-only: the latest effective one wins.
func (s *Store) SetCap(ctx context.Context, c settlement.Cap, effective time.Time) error {
	if !c.Currency.Valid() {
		return settlement.ErrCurrency
	}
	if c.Amount.IsNegative() || !c.Amount.Equal(c.Amount.Truncate(int32(c.Currency.MinorUnit()))) {
		return fmt.Errorf("cap %s %s: %w", c.Amount, c.Currency, settlement.ErrAmountScale)
	}
	_, err := s.db.ExecContext(ctx, `INSERT INTO net_debit_caps (bank, currency, amount, effective_from)
		VALUES ($1, $2, $3::numeric, coalesce($4, now()))`,
		string(c.Bank), c.Currency.Code(), settlement.FormatAmount(c.Amount, c.Currency),
		sql.NullTime{Time: effective, Valid: !effective.IsZero()})
	if sqlState(err) == codeForeignKeyViolation {
		return fmt.Errorf("%s: %w", c.Bank, ErrNoBank)
	}
	return err
}

// Caps returns the caps in force now, by bank and currency.
func (s *Store) Caps(ctx context.Context) ([]settlement.Cap, error) {
	rows, err := s.db.QueryContext(ctx, `SELECT bank, currency, amount::text FROM current_net_debit_caps ORDER BY bank, currency`)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	var out []settlement.Cap
	for rows.Next() {
		var bank, cur, amt string
		if err := rows.Scan(&bank, &cur, &amt); err != nil {
			return nil, err
		}
		c, err := settlement.ParseCurrency(cur)
		if err != nil {
			return nil, err
		}
		d, err := decimal.NewFromString(amt)
		if err != nil {
			return nil, err
		}
		out = append(out, settlement.Cap{Bank: settlement.BIC(bank), Currency: c, Amount: d})
	}
	return out, rows.Err()
}

func nullString(s string) sql.NullString { return sql.NullString{String: s, Valid: s != ""} }
