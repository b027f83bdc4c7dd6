package postgres

import (
	"strconv"
	"strings"

	"settle/settlement"
)

// CopyText is the exact COPY text the ingest sends for entries, for the
// benchmark's psql floor.
func CopyText(fileRow, cycle int64, sender settlement.BIC, es []*settlement.Entry) []byte {
	prefix := append(strconv.AppendInt(nil, fileRow, 10), '\t')
	cyc := strconv.AppendInt(nil, cycle, 10)
	var buf []byte
	for _, e := range es {
		buf = appendRow(buf, prefix, cyc, string(sender), e)
	}
	return buf
}

// CopyColumns is the column list of the ingest's COPY.
var CopyColumns = strings.Join(copyColumns, ", ")
