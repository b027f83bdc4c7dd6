package main

import (
	"bytes"
	"context"
	"encoding/csv"
	"encoding/json"
	"strconv"
	"strings"
	"testing"
	"time"

	"settle/adapters/postgres"
	"settle/adapters/postgres/pgtest"
)

// TestExportActions: `settle audit actions` exports every row of the
// console's action log across pages (1,500 rows, three pages of the
// store's), newest first, in CSV with a header (a note with a comma, a
// quote and a newline kept as is) and in JSON lines.
func TestExportActions(t *testing.T) {
	if testing.Short() {
		t.Skip("needs Postgres")
	}
	s, _ := pgtest.NewStore(t)
	ctx := context.Background()
	at := time.Date(2026, 11, 24, 1, 0, 0, 0, time.UTC)
	const n = 1500
	for i := range n {
		if err := s.LogConsoleAction(ctx, postgres.ConsoleAction{At: at.Add(time.Duration(i) * time.Second), Actor: "audrey", Role: "auditor",
			Source: "127.0.0.1", Action: "break.resolve", Subject: "k" + strconv.Itoa(i), Outcome: "refused", Detail: "role auditor, \"no\"\nsecond line"}); err != nil {
			t.Fatal(err)
		}
	}
	var out bytes.Buffer
	if err := exportActions(ctx, &out, s, "csv"); err != nil {
		t.Fatal(err)
	}
	recs, err := csv.NewReader(&out).ReadAll()
	if err != nil {
		t.Fatal(err)
	}
	if len(recs) != n+1 || recs[0][0] != "id" || recs[1][6] != "k1499" || recs[n][6] != "k0" || recs[1][8] != "role auditor, \"no\"\nsecond line" {
		t.Fatalf("%d records; first %v; last %v", len(recs), recs[1], recs[len(recs)-1])
	}
	out.Reset()
	if err := exportActions(ctx, &out, s, "json"); err != nil {
		t.Fatal(err)
	}
	lines := strings.Split(strings.TrimSpace(out.String()), "\n")
	var last struct{ Subject, Outcome string }
	if len(lines) != n || json.Unmarshal([]byte(lines[n-1]), &last) != nil || last.Subject != "k0" || last.Outcome != "refused" {
		t.Fatalf("%d JSON lines, last %q", len(lines), lines[len(lines)-1])
	}
}
