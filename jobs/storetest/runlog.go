package storetest

import (
	"context"
	"sync"
	"testing"
	"time"

	"settle/jobs"
)

// RunRunLog runs the contract of jobs.RunLog (the scheduler's record of
// job runs, which makes several instances run each scheduled time once) on
// fresh stores from open.
func RunRunLog(t *testing.T, open func(t *testing.T) jobs.RunLog) {
	for _, c := range []struct {
		name string
		test func(*testing.T, jobs.RunLog)
	}{
		{"ClaimedOnce", testClaimedOnce},
		{"ClaimedOnceUnderRace", testClaimedOnceUnderRace},
		{"LastIsTheGreatest", testLastIsTheGreatest},
		{"Finish", testFinish},
	} {
		t.Run(c.name, func(t *testing.T) { c.test(t, open(t)) })
	}
}

// at is 18:00 in Seoul on the suite's day, in whole seconds (every store
// keeps them exactly).
var at = time.Date(2026, 11, 24, 9, 0, 0, 0, time.UTC)

// testClaimedOnce: a run of a job at an instant is claimed once, by
// whoever asks first, whatever zone the instant is written in; another
// instant or another job is a run of its own.
func testClaimedOnce(t *testing.T, l jobs.RunLog) {
	ctx := context.Background()
	id, ok, err := l.Claim(ctx, "cutoff", at, "a")
	if err != nil || !ok || id == 0 {
		t.Fatalf("first claim: %d %v %v", id, ok, err)
	}
	seoul := time.FixedZone("KST", 9*3600)
	for _, again := range []struct {
		owner string
		t     time.Time
	}{{"a", at}, {"b", at}, {"b", at.In(seoul)}} {
		if id2, ok, err := l.Claim(ctx, "cutoff", again.t, again.owner); err != nil || ok || id2 != 0 {
			t.Errorf("claim again by %s at %s: %d %v %v, want refused", again.owner, again.t, id2, ok, err)
		}
	}
	next, ok, err := l.Claim(ctx, "cutoff", at.Add(24*time.Hour), "b")
	if err != nil || !ok || next == id {
		t.Errorf("the next day's run: %d %v %v", next, ok, err)
	}
	other, ok, err := l.Claim(ctx, "cycle", at, "b")
	if err != nil || !ok || other == id || other == next {
		t.Errorf("another job at the same time: %d %v %v", other, ok, err)
	}
}

// testClaimedOnceUnderRace: instances claiming the same run at once get
// one claim between them.
func testClaimedOnceUnderRace(t *testing.T, l jobs.RunLog) {
	var wg sync.WaitGroup
	var mu sync.Mutex
	won, errs := 0, 0
	for i := range 8 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			_, ok, err := l.Claim(context.Background(), "cutoff", at, string(rune('a'+i)))
			mu.Lock()
			defer mu.Unlock()
			if err != nil {
				errs++
			}
			if ok {
				won++
			}
		}()
	}
	wg.Wait()
	if won != 1 || errs != 0 {
		t.Fatalf("%d claims won and %d errors among 8 instances, want one claim", won, errs)
	}
}

// testLastIsTheGreatest: Last is the latest scheduled time claimed, not
// the last claim made; a job never run has none.
func testLastIsTheGreatest(t *testing.T, l jobs.RunLog) {
	ctx := context.Background()
	if _, ok, err := l.Last(ctx, "cycle"); ok || err != nil {
		t.Fatalf("a job never run: %v %v", ok, err)
	}
	for _, d := range []int{2, 0, 1} {
		if _, ok, err := l.Claim(ctx, "cycle", at.Add(time.Duration(d)*24*time.Hour), "a"); !ok || err != nil {
			t.Fatal(ok, err)
		}
	}
	last, ok, err := l.Last(ctx, "cycle")
	if err != nil || !ok || !last.Equal(at.Add(48*time.Hour)) {
		t.Fatalf("Last: %s %v %v, want %s", last, ok, err, at.Add(48*time.Hour))
	}
	if _, ok, err := l.Last(ctx, "cutoff"); ok || err != nil {
		t.Fatalf("another job's runs count for this one: %v %v", ok, err)
	}
}

// testFinish: a claimed run finishes ok, failed or skipped; any other
// outcome is refused.
func testFinish(t *testing.T, l jobs.RunLog) {
	ctx := context.Background()
	for i, status := range []string{"ok", "failed", "skipped"} {
		id, ok, err := l.Claim(ctx, "cycle", at.Add(time.Duration(i)*time.Hour), "a")
		if !ok || err != nil {
			t.Fatal(ok, err)
		}
		if err := l.Finish(ctx, id, jobs.Outcome{Status: status, Counts: map[string]int64{"files": 2}, Err: "why"}); err != nil {
			t.Errorf("finish %s: %v", status, err)
		}
	}
	id, _, _ := l.Claim(ctx, "cycle", at.Add(5*time.Hour), "a")
	if err := l.Finish(ctx, id, jobs.Outcome{Status: "done"}); err == nil {
		t.Error("an outcome neither ok, failed nor skipped was taken")
	}
}
