package jobs_test

// The intake's part of the attack suite (issue 12): banks drive the real
// server with OpenSSH's sftp and openssl, the intake runs as settle serve
// runs it. Named TestAttack*, run by `make test-attack` and `make test`.

import (
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"settle/adapters/archive"
	"settle/formats/gen"
	"settle/jobs"
	"settle/settlement"
)

func (c *bankClient) notice(name string) (jobs.Notice, bool) {
	local := filepath.Join(c.dir, c.login+"-"+name+".notice.json")
	os.Remove(local)
	if _, err := c.run(fmt.Sprintf("get outbox/%s %s\n", jobs.NoticeName(name), local)); err != nil {
		return jobs.Notice{}, false
	}
	b, err := os.ReadFile(local)
	if err != nil {
		return jobs.Notice{}, false
	}
	var n jobs.Notice
	if err := json.Unmarshal(b, &n); err != nil {
		c.t.Fatalf("notice %s: %v: %s", name, err, b)
	}
	return n, true
}

// Issue 12, item 9: a complete pair that will never be read (x.txt,
// UPPER.CSV) gets a notice saying why, is logged, and leaves the inbox.
func TestAttackIgnoredPairGetsNotice(t *testing.T) {
	if testing.Short() {
		t.Skip("needs Postgres and OpenSSH")
	}
	w := newWorld(t)
	banks := w.startSFTP(t)
	c := banks[0]
	local := filepath.Join(c.dir, "any.csv")
	os.WriteFile(local, w.csv(0, "2026-11-24", "F-IGN", gen.DayPayments(gen.Config{Banks: 3, Payments: 3, Date: "2026-11-24", Seed: 1},
		[]settlement.BIC{w.banks[0].BIC, w.banks[1].BIC, w.banks[2].BIC}, 0)), 0o600)
	c.sign(local)
	c.upload(local, "UPPER.CSV")
	c.upload(local, "x.txt")
	counts, err := w.intake.Collect(w.ctx)
	if err != nil {
		t.Fatal(err)
	}
	if counts.Ignored != 2 || counts.Accepted != 0 || counts.Rejected != 0 {
		t.Fatalf("counts %+v", counts)
	}
	for _, name := range []string{"UPPER.CSV", "x.txt"} {
		n, ok := c.notice(name)
		if !ok || n.Status != jobs.StatusIgnored || n.File != name || len(n.SHA256) != 64 || !strings.Contains(n.Reason, "*.csv or *.xml") {
			t.Errorf("%s: notice %v %+v", name, ok, n)
		}
		if _, ok := c.ack(name); ok {
			t.Errorf("%s: acknowledged as if read", name)
		}
	}
	if left, _ := os.ReadDir(filepath.Join(w.root, "sftp", "banks", string(w.banks[0].BIC), "inbox")); len(left) != 0 {
		t.Errorf("inbox still holds %d files", len(left))
	}
	if c, _ := w.intake.Collect(w.ctx); c.Taken != 0 {
		t.Errorf("noticed again: %+v", c)
	}
}

// Issue 12, item 4: a payment file whose acknowledgement could not be
// named is never ingested: the server refuses its name (its own suite
// tests that), and a pair that reaches the inbox anyway gets a notice
// instead of entering a cycle.
func TestAttackLongNameNeverIngested(t *testing.T) {
	w := newWorld(t)
	name := strings.Repeat("N", 124-4) + ".csv" // 124 characters, under the 128 of the tree
	w.upload(0, name, w.csv(0, "2026-11-24", "F-LONG", gen.DayPayments(gen.Config{Banks: 3, Payments: 3, Date: "2026-11-24", Seed: 2},
		[]settlement.BIC{w.banks[0].BIC, w.banks[1].BIC, w.banks[2].BIC}, 0)))
	counts, err := w.intake.Collect(w.ctx)
	if err != nil {
		t.Fatal(err)
	}
	if counts.Ignored != 1 || counts.Accepted != 0 {
		t.Fatalf("counts %+v", counts)
	}
	cyc, err := w.store.EnsureCycle(w.ctx, "2026-11-24")
	if err != nil {
		t.Fatal(err)
	}
	if cyc.Files != 0 || cyc.Entries != 0 {
		t.Fatalf("a file that cannot be acknowledged entered the cycle: %+v", cyc)
	}
	// 124 + len(".notice.json.sig") > 128: the log is all there is, and
	// the intake does not loop on it.
	if c, err := w.intake.Collect(w.ctx); err != nil || c.Taken != 0 {
		t.Fatalf("second pass: %+v %v", c, err)
	}
}

// Issue 12, item 7: SHBKKRSE uploading a file whose header names another
// bank, signed with its own key, is told SENDER_NOT_UPLOADER, and nothing
// about the named bank's keys.
func TestAttackSenderNotUploader(t *testing.T) {
	if testing.Short() {
		t.Skip("needs Postgres and OpenSSH")
	}
	w := newWorld(t)
	banks := w.startSFTP(t)
	c := banks[1]
	local := filepath.Join(c.dir, "other.csv")
	os.WriteFile(local, w.csv(0, "2026-11-24", "F-OTHER", gen.DayPayments(gen.Config{Banks: 3, Payments: 3, Date: "2026-11-24", Seed: 4},
		[]settlement.BIC{w.banks[0].BIC, w.banks[1].BIC, w.banks[2].BIC}, 0)), 0o600)
	c.sign(local)
	c.upload(local, "other.csv")
	if _, err := w.intake.Collect(w.ctx); err != nil {
		t.Fatal(err)
	}
	a, ok := c.ack("other.csv")
	if !ok || a.Status != "REJECTED" {
		t.Fatalf("ack %v %+v", ok, a)
	}
	for _, p := range a.Errors {
		if p.Code != settlement.CodeSenderNotUploader && p.Code != settlement.CodeDebtorNotSender {
			t.Errorf("problem %s: %s", p.Code, p.Message)
		}
		if strings.Contains(p.Message, "registered public key") {
			t.Errorf("message about the named bank's keys: %s", p.Message)
		}
	}
	if len(a.Errors) == 0 || a.Errors[0].Code != settlement.CodeSenderNotUploader {
		t.Fatalf("errors %+v", a.Errors)
	}
}

// Issue 12, item 3: rejected bytes stay in the archive within the bank's
// quota; beyond it the oldest go, and their receipts stay.
func TestAttackRejectedBytesWithinQuota(t *testing.T) {
	if testing.Short() {
		t.Skip("needs Postgres and OpenSSH")
	}
	w := newWorld(t)
	arc := w.intake.Archive.(*archive.Archive)
	arc.SetRejectedBytesMax(250 << 10)
	banks := w.startSFTP(t)
	c := banks[0]
	var sums []string
	for i := 0; i < 3; i++ {
		local := filepath.Join(c.dir, fmt.Sprintf("junk%d.csv", i))
		junk := []byte(strings.Repeat(fmt.Sprintf("junk %d\n", i), (100<<10)/7))
		os.WriteFile(local, junk, 0o600)
		c.sign(local)
		c.upload(local, fmt.Sprintf("junk%d.csv", i))
		if counts, err := w.intake.Collect(w.ctx); err != nil || counts.Rejected != 1 {
			t.Fatalf("junk %d: %+v %v", i, counts, err)
		}
		a, _ := c.ack(fmt.Sprintf("junk%d.csv", i))
		sums = append(sums, a.SHA256)
	}
	for i, sum := range sums {
		p, _ := arc.Path(sum)
		_, err := os.Stat(p)
		if kept := err == nil; kept != (i > 0) {
			t.Errorf("junk%d kept = %v", i, kept)
		}
		if es, err := arc.Entries(sum); err != nil || len(es) != 1 {
			t.Errorf("junk%d receipt: %v %v", i, es, err)
		}
	}
}
