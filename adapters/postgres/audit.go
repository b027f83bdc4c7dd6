package postgres

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"time"

	"github.com/lib/pq"
	"github.com/shopspring/decimal"

	"settle/jobs"
	"settle/settlement"
)

var _ jobs.AuditStore = (*JobStore)(nil)

// Lineage is a payment or reversal with the file that carried it, its
// file's cycle, its own moves by the ledger's gridlock resolution
// (Carried), and the other end of its reversal chain.
func (j *JobStore) Lineage(ctx context.Context, sender settlement.BIC, id string) (jobs.Lineage, bool, error) {
	var l jobs.Lineage
	var kind, debtor, creditor, amount, cur, orig, reason, state string
	var bd time.Time
	var ack sql.NullTime
	var key, fileID sql.NullString
	var accepted time.Time
	err := j.db.QueryRowContext(ctx, `SELECT p.kind, p.debtor, p.creditor, p.amount::text, p.currency, coalesce(p.original_payment_id, ''),
		coalesce(p.reason, ''), p.line, c.business_date, c.state, a.business_date,
		f.id, f.name, f.sha256, f.size_bytes, f.signature_key, f.file_id, f.received_at, f.acknowledged_at, f.status
		FROM payments p JOIN files f ON f.id = p.file_id JOIN cycles c ON c.id = file_cycle(p.file_id) JOIN cycles a ON a.id = p.cycle_id
		WHERE p.sender = $1 AND p.payment_id = $2`, string(sender), id).
		Scan(&kind, &debtor, &creditor, &amount, &cur, &orig, &reason, &l.Entry.Line, &bd, &state, &accepted,
			&l.File.FileRow, &l.File.Name, &l.FileSHA256, &l.FileSize, &key, &fileID, &l.File.ReceivedAt, &ack, &l.File.Status)
	if errors.Is(err, sql.ErrNoRows) {
		return l, false, nil
	}
	if err != nil {
		return l, false, err
	}
	c, err := settlement.ParseCurrency(cur)
	if err != nil {
		return l, false, err
	}
	d, err := decimal.NewFromString(amount)
	if err != nil {
		return l, false, err
	}
	l.Sender = sender
	l.Entry = settlement.Entry{Line: l.Entry.Line, Kind: settlement.Kind(kind[0]), ID: id, Debtor: settlement.BIC(debtor),
		Creditor: settlement.BIC(creditor), Amount: d, Currency: c, Original: orig, Reason: reason}
	l.Cycle, l.Stage = settlement.Date(bd.Format(time.DateOnly)), stageOf(state)
	if a := settlement.Date(accepted.Format(time.DateOnly)); a != l.Cycle {
		l.DeferredFrom = a
	}
	l.File.Sender, l.File.FileID, l.SignatureKey = sender, fileID.String, key.String
	l.File.Acknowledged = ack.Valid
	if ack.Valid {
		l.AcknowledgedAt = ack.Time
	}
	if l.Moves, err = fileMoves(ctx, j.db, l.File.FileRow); err != nil {
		return l, false, err
	}
	if l.Carried, err = paymentMoves(ctx, j.db, l.File.FileRow, l.Entry.Line); err != nil {
		return l, false, err
	}
	// The other end of the chain: what reversed it, or what it reverses.
	var other sql.NullString
	if l.Entry.Kind == settlement.KindPayment {
		err = j.db.QueryRowContext(ctx, `SELECT payment_id FROM payments WHERE sender = $1 AND original_payment_id = $2`, string(sender), id).Scan(&other)
		if err == nil {
			l.ReversedBy = other.String
		}
	}
	if err != nil && !errors.Is(err, sql.ErrNoRows) {
		return l, false, fmt.Errorf("reversal of %s/%s: %w", sender, id, err)
	}
	return l, true, nil
}

// CycleFiles lists the accepted files of a cycle.
func (j *JobStore) CycleFiles(ctx context.Context, date settlement.Date) ([]jobs.CycleFile, error) {
	rows, err := j.db.QueryContext(ctx, `SELECT f.sender, f.name, f.sha256, coalesce(f.signature_key, ''), f.received_at, f.entries, f.file_id
		FROM cycles c JOIN files f ON `+filesOfCycle+`
		WHERE c.business_date = $1 AND c.seq = 1 ORDER BY f.id`, string(date))
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	var out []jobs.CycleFile
	for rows.Next() {
		var f jobs.CycleFile
		var sender string
		if err := rows.Scan(&sender, &f.Name, &f.SHA256, &f.SignatureKey, &f.ReceivedAt, &f.Entries, &f.FileID); err != nil {
			return nil, err
		}
		f.Sender = settlement.BIC(sender)
		out = append(out, f)
	}
	return out, rows.Err()
}

// LedgerTxRow is what Postgres recorded of a ledger transaction.
func (j *JobStore) LedgerTxRow(ctx context.Context, txID string) (jobs.LedgerTxRow, bool, error) {
	var r jobs.LedgerTxRow
	var bd time.Time
	var block sql.NullInt64
	var chunk sql.NullString
	var endorsers pq.StringArray
	err := j.db.QueryRowContext(ctx, `SELECT c.business_date, l.function, l.chunk_id, l.entries, l.block_number, l.endorsers
		FROM ledger_txs l JOIN cycles c ON c.id = l.cycle_id WHERE l.tx_id = $1`, txID).
		Scan(&bd, &r.Function, &chunk, &r.Entries, &block, &endorsers)
	if errors.Is(err, sql.ErrNoRows) {
		return r, false, nil
	}
	if err != nil {
		return r, false, err
	}
	r.Cycle, r.Chunk, r.Endorsers = settlement.Date(bd.Format(time.DateOnly)), chunk.String, endorsers
	if block.Valid {
		r.Block = uint64(block.Int64)
	}
	return r, true, nil
}

// movesMax bounds the deferrals one lineage lists.
const movesMax = 100

// fileMoves are a file's deferrals, oldest first.
func fileMoves(ctx context.Context, db *sql.DB, fileRow int64) ([]jobs.FileMove, error) {
	rows, err := db.QueryContext(ctx, `SELECT fc.business_date, tc.business_date, d.reason, d.actor, d.recorded_at
		FROM file_deferrals d JOIN cycles fc ON fc.id = d.from_cycle JOIN cycles tc ON tc.id = d.to_cycle
		WHERE d.file_row = $1 ORDER BY d.id LIMIT $2`, fileRow, movesMax)
	if err != nil {
		return nil, fmt.Errorf("deferrals of file %d: %w", fileRow, err)
	}
	defer rows.Close()
	var out []jobs.FileMove
	for rows.Next() {
		var m jobs.FileMove
		var from, to time.Time
		if err := rows.Scan(&from, &to, &m.Reason, &m.Actor, &m.At); err != nil {
			return nil, err
		}
		m.From, m.To = settlement.Date(from.Format(time.DateOnly)), settlement.Date(to.Format(time.DateOnly))
		out = append(out, m)
	}
	return out, rows.Err()
}

// paymentMoves are a payment's moves by the ledger's gridlock resolution
// (payment_deferrals), oldest first.
func paymentMoves(ctx context.Context, db *sql.DB, fileRow int64, line int) ([]jobs.PaymentMove, error) {
	rows, err := db.QueryContext(ctx, `SELECT fc.business_date, tc.business_date, tc.state, d.times, d.waiting, d.ledger_tx
		FROM payment_deferrals d JOIN cycles fc ON fc.id = d.from_cycle JOIN cycles tc ON tc.id = d.to_cycle
		WHERE d.file_row = $1 AND d.line = $2 ORDER BY d.id LIMIT $3`, fileRow, line, movesMax)
	if err != nil {
		return nil, fmt.Errorf("moves of the payment at file %d line %d: %w", fileRow, line, err)
	}
	defer rows.Close()
	var out []jobs.PaymentMove
	for rows.Next() {
		var m jobs.PaymentMove
		var from, to time.Time
		var state string
		if err := rows.Scan(&from, &to, &state, &m.Times, &m.Waiting, &m.LedgerTx); err != nil {
			return nil, err
		}
		m.ToStage = stageOf(state)
		m.From, m.To = settlement.Date(from.Format(time.DateOnly)), settlement.Date(to.Format(time.DateOnly))
		out = append(out, m)
	}
	return out, rows.Err()
}

var _ jobs.AuditFiles = (*JobStore)(nil)

// FileLineage is an accepted file of a bank by its file id, with the
// cycle it is in now (after every deferral) and its deferrals.
func (j *JobStore) FileLineage(ctx context.Context, sender settlement.BIC, fileID string) (jobs.Lineage, bool, error) {
	var l jobs.Lineage
	var bd, accepted time.Time
	var state string
	var key, csum sql.NullString
	var ack sql.NullTime
	err := j.db.QueryRowContext(ctx, `SELECT f.id, f.name, f.sha256, f.size_bytes, f.signature_key, f.received_at, f.acknowledged_at, f.status,
		f.entries, f.control_sum::text, c.business_date, c.state, a.business_date
		FROM files f JOIN cycles c ON c.id = file_cycle(f.id) JOIN cycles a ON a.id = f.cycle_id
		WHERE f.sender = $1 AND f.file_id = $2 AND f.status = 'ACCEPTED'`, string(sender), fileID).
		Scan(&l.File.FileRow, &l.File.Name, &l.FileSHA256, &l.FileSize, &key, &l.File.ReceivedAt, &ack, &l.File.Status,
			&l.File.Entries, &csum, &bd, &state, &accepted)
	if errors.Is(err, sql.ErrNoRows) {
		return l, false, nil
	}
	if err != nil {
		return l, false, err
	}
	l.Sender, l.File.Sender, l.File.FileID, l.SignatureKey, l.File.ControlSum = sender, sender, fileID, key.String, csum.String
	l.Cycle, l.Stage = settlement.Date(bd.Format(time.DateOnly)), stageOf(state)
	l.File.Cycle = l.Cycle
	if a := settlement.Date(accepted.Format(time.DateOnly)); a != l.Cycle {
		l.DeferredFrom = a
	}
	l.File.Acknowledged = ack.Valid
	if ack.Valid {
		l.AcknowledgedAt = ack.Time
	}
	if l.Moves, err = fileMoves(ctx, j.db, l.File.FileRow); err != nil {
		return l, false, err
	}
	return l, true, nil
}

// filePaymentsMax bounds one reading of a file's payments.
const filePaymentsMax = 1000

// FilePayments are a file's first limit payments (at most
// filePaymentsMax) in line order, each with its reversal's id.
func (j *JobStore) FilePayments(ctx context.Context, fileRow int64, limit int) ([]jobs.FilePayment, error) {
	if limit <= 0 || limit > filePaymentsMax {
		limit = filePaymentsMax
	}
	rows, err := j.db.QueryContext(ctx, `SELECT p.line, p.payment_id, p.kind, p.creditor, p.amount::text, p.currency,
		coalesce(p.original_payment_id, ''), coalesce(r.payment_id, '')
		FROM payments p LEFT JOIN payments r ON r.sender = p.sender AND r.original_payment_id = p.payment_id
		WHERE p.file_id = $1 ORDER BY p.line LIMIT $2`, fileRow, limit)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	var out []jobs.FilePayment
	for rows.Next() {
		var p jobs.FilePayment
		var amount string
		if err := rows.Scan(&p.Line, &p.ID, &p.Kind, &p.Creditor, &amount, &p.Currency, &p.Reverses, &p.ReversedBy); err != nil {
			return nil, err
		}
		cur, err := settlement.ParseCurrency(p.Currency)
		if err != nil {
			return nil, err
		}
		d, err := decimal.NewFromString(amount)
		if err != nil {
			return nil, err
		}
		p.Amount = settlement.FormatAmount(d, cur)
		if p.Kind == "R" {
			p.Kind = "reversal"
		} else {
			p.Kind = "payment"
		}
		out = append(out, p)
	}
	return out, rows.Err()
}
