package postgres

import (
	"context"
	"fmt"

	"github.com/shopspring/decimal"

	"settle/intake"
	"settle/jobs"
	"settle/settlement"
)

var _ jobs.FileLister = (*JobStore)(nil)

// LedgerFiles lists the accepted files of a cycle after deferrals (file_cycle),
// in (sender, file id) byte order: what the governed ledger path declares.
func (j *JobStore) LedgerFiles(ctx context.Context, date settlement.Date) ([]jobs.LedgerFile, error) {
	id, err := j.cycleID(ctx, j.db, date)
	if err != nil {
		return nil, err
	}
	rows, err := j.db.QueryContext(ctx, `SELECT f.sender, f.file_id, f.name, f.sha256, f.size_bytes, f.entries, coalesce(f.control_sum, 0)::text, to_char(f.business_date, 'YYYY-MM-DD')
		FROM cycles c JOIN files f ON `+filesOfCycle+`
		WHERE c.id = $1 ORDER BY f.sender COLLATE "C", f.file_id COLLATE "C"`, id)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	var out []jobs.LedgerFile
	for rows.Next() {
		var f jobs.LedgerFile
		var sender, sum, date string
		if err := rows.Scan(&sender, &f.FileID, &f.Name, &f.SHA256, &f.Size, &f.Entries, &sum, &date); err != nil {
			return nil, err
		}
		f.Sender, f.BusinessDate = settlement.BIC(sender), settlement.Date(date)
		if f.ControlSum, err = decimal.NewFromString(sum); err != nil {
			return nil, fmt.Errorf("file %s/%s control sum %q: %w", sender, f.FileID, sum, err)
		}
		// pacs.008 or pacs.007: the ledger reads which from the namespace,
		// and the declared sha256 fixes the bytes.
		if f.Format = intake.Format(f.Name); f.Format == "" {
			return nil, fmt.Errorf("file %s/%s %q: no ledger format for its extension", sender, f.FileID, f.Name)
		}
		out = append(out, f)
	}
	return out, rows.Err()
}
