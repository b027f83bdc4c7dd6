package postgres

import (
	"context"
	"database/sql"
	"errors"
	"time"

	"github.com/lib/pq"
	"github.com/shopspring/decimal"

	"settle/jobs"
	"settle/reconciliation"
	"settle/settlement"
)

var _ jobs.AgentStore = (*JobStore)(nil)

// agentBookingsMax bounds the bookings one cycle's reconciliation reads:
// a cycle has one instruction per bank and currency, so anything near
// this is an agent gone wrong, reported as such rather than read whole.
const agentBookingsMax = 100_000

// SaveAgentAnswer records one of the agent's files and its bookings in
// one transaction (multi-row inserts); a file already recorded is a
// duplicate and changes nothing.
func (j *JobStore) SaveAgentAnswer(ctx context.Context, a jobs.AgentAnswer, bookings []jobs.AgentBooking) (bool, error) {
	tx, err := j.db.BeginTx(ctx, nil)
	if err != nil {
		return false, err
	}
	defer tx.Rollback()
	var id int64
	err = tx.QueryRowContext(ctx, `INSERT INTO agent_answers (agent, name, sha256, message, msg_id, signature_key, entries, received_at)
		VALUES ($1, $2, $3, $4, $5, $6, $7, $8) ON CONFLICT (sha256) DO NOTHING RETURNING id`,
		string(a.Agent), a.Name, a.SHA256, a.Message, a.MsgID, a.SignatureKey, len(bookings), a.ReceivedAt).Scan(&id)
	if errors.Is(err, sql.ErrNoRows) {
		return true, nil
	}
	if err != nil {
		return false, err
	}
	const batch = 500
	for start := 0; start < len(bookings); start += batch {
		part := bookings[start:min(start+batch, len(bookings))]
		q := `INSERT INTO agent_bookings (answer_id, line, account, end_to_end_id, uetr, amount, currency, credit, value_date, status, rejected, reversal) VALUES `
		args := make([]any, 0, len(part)*12)
		for k, b := range part {
			if k > 0 {
				q += ","
			}
			n := len(args)
			q += "(" + placeholders(n+1, 12) + ")"
			args = append(args, id, b.Line, b.Account, nullText(b.EndToEndID), nullText(b.UETR), b.Amount.String(), b.Currency.Code(),
				b.Credit, nullText(string(b.ValueDate)), b.Status, nullText(b.Rejected), b.Reversal)
		}
		if _, err := tx.ExecContext(ctx, q, args...); err != nil {
			return false, err
		}
	}
	return false, tx.Commit()
}

func placeholders(from, n int) string {
	s := ""
	for i := 0; i < n; i++ {
		if i > 0 {
			s += ","
		}
		s += "$" + itoa(from+i)
	}
	return s
}

func itoa(i int) string {
	if i == 0 {
		return "0"
	}
	var b [20]byte
	k := len(b)
	for i > 0 {
		k--
		b[k] = byte('0' + i%10)
		i /= 10
	}
	return string(b[k:])
}

func nullText(s string) any {
	if s == "" {
		return nil
	}
	return s
}

// AgentBookings are the bookings naming a cycle's instructions, in the
// order they were received.
func (j *JobStore) AgentBookings(ctx context.Context, cycle string, uetrs []string) ([]reconciliation.Booking, error) {
	rows, err := j.db.QueryContext(ctx, `SELECT a.name, b.line, coalesce(b.end_to_end_id, ''), coalesce(b.uetr, ''), b.amount::text, b.currency,
			b.credit, coalesce(b.value_date::text, ''), b.status, coalesce(b.rejected, ''), b.reversal
		FROM agent_bookings b JOIN agent_answers a ON a.id = b.answer_id
		WHERE b.end_to_end_id LIKE $1 OR b.uetr = ANY($2)
		ORDER BY b.answer_id, b.line LIMIT $3`, likePrefix(cycle+":"), pq.Array(uetrs), agentBookingsMax+1)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	var out []reconciliation.Booking
	for rows.Next() {
		var b reconciliation.Booking
		var name, amount, cur, vd string
		var line int
		if err := rows.Scan(&name, &line, &b.EndToEndID, &b.UETR, &amount, &cur, &b.Credit, &vd, &b.Status, &b.Rejected, &b.Reversal); err != nil {
			return nil, err
		}
		if b.Amount, err = decimal.NewFromString(amount); err != nil {
			return nil, err
		}
		if b.Currency, err = settlement.ParseCurrency(cur); err != nil {
			return nil, err
		}
		b.ValueDate = settlement.Date(vd)
		b.Source = name + ":" + itoa(line)
		out = append(out, b)
	}
	if len(out) > agentBookingsMax {
		return nil, errors.New("more than 100000 agent bookings name one cycle")
	}
	return out, rows.Err()
}

// likePrefix is a LIKE pattern matching s as a prefix (s escaped).
func likePrefix(s string) string {
	out := make([]byte, 0, len(s)+1)
	for i := 0; i < len(s); i++ {
		if s[i] == '%' || s[i] == '_' || s[i] == '\\' {
			out = append(out, '\\')
		}
		out = append(out, s[i])
	}
	return string(out) + "%"
}

// SettledAt is when the cycle reached SETTLED.
func (j *JobStore) SettledAt(ctx context.Context, date settlement.Date) (time.Time, bool, error) {
	var at time.Time
	err := j.db.QueryRowContext(ctx, `SELECT s.at FROM cycle_stages s JOIN cycles c ON c.id = s.cycle_id
		WHERE c.business_date = $1 AND c.seq = 1 AND s.to_stage = $2`, string(date), string(settlement.StageSettled)).Scan(&at)
	if errors.Is(err, sql.ErrNoRows) {
		return time.Time{}, false, nil
	}
	return at, err == nil, err
}

// AgentConfirmation is the latest confirmation recorded for the cycle.
func (j *JobStore) AgentConfirmation(ctx context.Context, date settlement.Date) (reconciliation.Confirmation, bool, error) {
	var s string
	err := j.db.QueryRowContext(ctx, `SELECT a.status FROM agent_confirmations a JOIN cycles c ON c.id = a.cycle_id
		WHERE c.business_date = $1 AND c.seq = 1 ORDER BY a.id DESC LIMIT 1`, string(date)).Scan(&s)
	if errors.Is(err, sql.ErrNoRows) {
		return "", false, nil
	}
	return reconciliation.Confirmation(s), err == nil, err
}

// unconfirmedAge bounds how far back Unconfirmed looks: a cycle the
// agent has left unconfirmed for longer is long overdue (the metric and
// its breaks say so) and is reconciled on request, not after every answer.
const unconfirmedAge = "31 days"

// Unconfirmed lists the cycles settled in the 31 days before now whose
// latest confirmation is not CONFIRMED (or that have none), oldest first.
// now is the caller's clock, which wrote the stage times (UpdateCycle).
func (j *JobStore) Unconfirmed(ctx context.Context, now time.Time) ([]jobs.UnconfirmedCycle, error) {
	rows, err := j.db.QueryContext(ctx, `SELECT c.business_date::text, s.at, coalesce((SELECT a.status FROM agent_confirmations a
			WHERE a.cycle_id = c.id ORDER BY a.id DESC LIMIT 1), 'NOT_YET') AS status
		FROM cycles c JOIN cycle_stages s ON s.cycle_id = c.id AND s.to_stage = $1
		WHERE c.seq = 1 AND s.at > $2::timestamptz - interval '`+unconfirmedAge+`'
		  AND EXISTS (SELECT 1 FROM net_positions p WHERE p.cycle_id = c.id AND p.net <> 0)
		ORDER BY c.business_date LIMIT 1000`, string(settlement.StageSettled), now)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	var out []jobs.UnconfirmedCycle
	for rows.Next() {
		var u jobs.UnconfirmedCycle
		var d, st string
		if err := rows.Scan(&d, &u.SettledAt, &st); err != nil {
			return nil, err
		}
		if st == string(reconciliation.Confirmed) {
			continue
		}
		u.Date, u.Status = settlement.Date(d), reconciliation.Confirmation(st)
		out = append(out, u)
	}
	return out, rows.Err()
}

// saveConfirmation records the agent's confirmation of a run, in the
// run's transaction.
func saveConfirmation(ctx context.Context, tx *sql.Tx, cycle int64, a *reconciliation.AgentResult) error {
	if a == nil {
		return nil
	}
	_, err := tx.ExecContext(ctx, `INSERT INTO agent_confirmations (cycle_id, status, instructions, confirmed, bookings) VALUES ($1, $2, $3, $4, $5)`,
		cycle, string(a.Status), a.Instructions, a.Confirmed, a.Bookings)
	return err
}
