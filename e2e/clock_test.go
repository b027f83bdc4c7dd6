package e2e

import (
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// At fixed times, whatever the machine's clock says: the service runs on a
// clock of the test's (SETTLE_CLOCK), so the cut-off, the weekend and the
// holiday are exercised on every run. The scheme's calendar here has a
// holiday on Thursday 16 April 2026.
const clockHolidays = "2026-04-16 Test Holiday\n"

// clockScenario is one start of settle serve at a fixed time in Seoul with
// files dated that day.
type clockScenario struct {
	name   string
	at     string // RFC 3339, the service's clock at its start
	dated  string // the files' business date
	cycle  string // the cycle their acknowledgements must name
	settle bool   // wait for the scheduled freeze at 18:00 and the cycle to its end
}

var clockScenarios = []clockScenario{
	// Before the cut-off on a weekday: tonight's cycle; the scheduler
	// freezes it at 18:00 and the service takes it to its end.
	{"weekday before cut-off", "2026-04-14T17:59:35+09:00", "2026-04-14", "C2026-04-14", true},
	{"weekday after cut-off", "2026-04-20T18:00:30+09:00", "2026-04-20", "C2026-04-21", false},
	{"Friday before cut-off", "2026-04-17T12:00:00+09:00", "2026-04-17", "C2026-04-17", false},
	{"Friday after cut-off", "2026-04-24T18:05:00+09:00", "2026-04-24", "C2026-04-27", false},
	{"day before a holiday, before cut-off", "2026-04-15T10:00:00+09:00", "2026-04-15", "C2026-04-15", false},
	// The eve of the holiday after the cut-off: the day after the holiday.
	{"day before a holiday, after cut-off", "2026-04-15T19:30:00+09:00", "2026-04-15", "C2026-04-17", false},
}

// TestServeAtFixedTimes starts settle serve at each scenario's time; banks
// upload with OpenSSH; each acknowledgement names the cycle the calendar
// and the cut-off give. The weekday scenario then waits for the scheduler
// to freeze the cycle at its cut-off and the service to carry it to the
// end, reconciled with no break.
func TestServeAtFixedTimes(t *testing.T) {
	for _, sc := range clockScenarios {
		t.Run(sc.name, func(t *testing.T) {
			if !sc.settle {
				t.Parallel()
			}
			at, err := time.Parse(time.RFC3339, sc.at)
			if err != nil {
				t.Fatal(err)
			}
			s := newSys(t, 12, sc.dated)
			s.env = []string{"SETTLE_CLOCK=" + at.UTC().Format(time.RFC3339) + "@" + time.Now().UTC().Format(time.RFC3339Nano)}
			hol := filepath.Join(s.dir, "holidays.txt")
			os.WriteFile(hol, []byte(clockHolidays), 0o600)
			cfg, _ := os.ReadFile(s.config)
			c := strings.Replace(string(cfg), `intake: {poll: 500ms, cutoff: "23:59"}`, `intake: {poll: 500ms, cutoff: "18:00"}`, 1)
			c = strings.Replace(c, `schedule: {cycle: "0 3 1 1 *", resume: 10m}`, fmt.Sprintf(`schedule: {cycle: "0 18 * * 1-5", holidays: %q, resume: 10m}`, hol), 1)
			if c == string(cfg) {
				t.Fatal("the test's config did not take the cut-off and schedule")
			}
			os.WriteFile(s.config, []byte(c), 0o600)

			v := startServe(t, s)
			v.uploadDay()
			for _, f := range s.day.Files {
				b, _ := os.ReadFile(filepath.Join(s.dir, filepath.Base(f)+".ack.json"))
				var ack struct {
					Status     string `json:"status"`
					Cycle      string `json:"cycle"`
					ReceivedAt string `json:"received_at"`
				}
				if err := json.Unmarshal(b, &ack); err != nil {
					t.Fatalf("ack of %s: %v\n%s", f, err, b)
				}
				if ack.Cycle != sc.cycle {
					t.Fatalf("%s received at %s (service clock from %s): cycle %q, want %q\n%s", filepath.Base(f), ack.ReceivedAt, sc.at, ack.Cycle, sc.cycle, b)
				}
			}
			if !sc.settle {
				return
			}
			deadline := time.Now().Add(3 * time.Minute)
			for st := s.stage(sc.dated); st != "REPORTED"; st = s.stage(sc.dated) {
				if time.Now().After(deadline) {
					t.Fatalf("the cycle stayed at %q after the scheduled cut-off", st)
				}
				time.Sleep(500 * time.Millisecond)
			}
			var scheduled time.Time
			var status string
			s.db.QueryRow(`SELECT scheduled_at, status FROM job_runs WHERE job = 'cycle'`).Scan(&scheduled, &status)
			if want := time.Date(2026, 4, 14, 9, 0, 0, 0, time.UTC); !scheduled.Equal(want) || status != "OK" {
				t.Fatalf("the scheduled run: %s %s, want %s OK", scheduled, status, want)
			}
			if out := s.must("recon", "run", "--date", sc.dated); !strings.Contains(out, "12 matched, 0 breaks") {
				t.Fatalf("reconciliation: %s", out)
			}
		})
	}
}
