package jobs_test

import (
	"context"
	"errors"
	"io"
	"log/slog"
	"strings"
	"testing"
	"time"

	"settle/jobs"
	"settle/settlement"
)

// fakeInbox is one inbox holding files by name, recording what it was
// asked to do.
type fakeInbox struct {
	files []jobs.InboxFile
	err   error
	acks  []string
	done  []string
	puts  []string
}

func (f *fakeInbox) List(_ context.Context, limit int) ([]jobs.InboxFile, error) {
	if f.err != nil {
		return nil, f.err
	}
	out := append([]jobs.InboxFile(nil), f.files...)
	if limit > 0 && len(out) > limit {
		out = out[:limit]
	}
	return out, nil
}
func (f *fakeInbox) Open(_ context.Context, x jobs.InboxFile) (io.ReadCloser, error) {
	return io.NopCloser(strings.NewReader("file " + x.Name)), nil
}
func (f *fakeInbox) OpenSig(_ context.Context, x jobs.InboxFile) (io.ReadCloser, error) {
	return io.NopCloser(strings.NewReader("sig " + x.Name)), nil
}
func (f *fakeInbox) Ack(_ context.Context, x jobs.InboxFile, name string, _ []byte) error {
	f.acks = append(f.acks, name)
	return nil
}
func (f *fakeInbox) Done(_ context.Context, x jobs.InboxFile) error {
	f.done = append(f.done, x.Name)
	return nil
}
func (f *fakeInbox) Put(_ context.Context, bank settlement.BIC, name string, _ []byte) error {
	f.puts = append(f.puts, string(bank)+"/"+name)
	return nil
}
func (f *fakeInbox) PutFile(_ context.Context, bank settlement.BIC, name, _ string) error {
	f.puts = append(f.puts, string(bank)+"/"+name)
	return nil
}
func (f *fakeInbox) Remove(_ context.Context, bank settlement.BIC, name string) error {
	f.puts = append(f.puts, "removed "+string(bank)+"/"+name)
	return nil
}

func TestInboxesRouteByOrigin(t *testing.T) {
	ctx := context.Background()
	t0 := time.Date(2026, 11, 24, 9, 0, 0, 0, time.UTC)
	local := &fakeInbox{files: []jobs.InboxFile{
		{Bank: "SHBKKRSE", Name: "l2.csv", ModTime: t0.Add(2 * time.Minute)},
		{Bank: "CZNBKRSE", Name: "l1.csv", ModTime: t0},
	}}
	remote := &fakeInbox{files: []jobs.InboxFile{{Bank: "HVBKKRSE", Name: "r1.csv", ModTime: t0.Add(time.Minute)}}}
	down := &fakeInbox{err: errors.New("connection refused")}
	liar := &fakeInbox{files: []jobs.InboxFile{{Bank: "SHBKKRSE", Name: "not-mine.csv", ModTime: t0}}}
	var failed []string
	m := &jobs.Inboxes{Local: local, Remote: map[settlement.BIC]jobs.BankInbox{"HVBKKRSE": remote, "KOEXKRSE": down, "KODBKRSE": liar}, Log: quietLog(),
		OnRemoteError: func(bank settlement.BIC, err error) { failed = append(failed, string(bank)+": "+err.Error()) }}

	fs, err := m.List(ctx, 0)
	if err != nil {
		t.Fatal(err)
	}
	var names []string
	for _, f := range fs {
		names = append(names, f.Name+"@"+f.Via)
	}
	// Oldest first across inboxes; a server that is down waits; a server
	// listing another bank's file is not believed.
	if got := strings.Join(names, " "); got != "l1.csv@ r1.csv@remote:HVBKKRSE l2.csv@" {
		t.Fatalf("listed %s", got)
	}
	if strings.Join(failed, ";") != "KOEXKRSE: connection refused" {
		t.Fatalf("the server that is down was reported as %q", failed)
	}
	if two, _ := m.List(ctx, 2); len(two) != 2 || two[1].Name != "r1.csv" {
		t.Fatalf("limit 2: %+v", two)
	}
	for _, f := range fs {
		rc, err := m.Open(ctx, f)
		if err != nil {
			t.Fatal(err)
		}
		b, _ := io.ReadAll(rc)
		if string(b) != "file "+f.Name {
			t.Fatalf("open %s: %q", f.Name, b)
		}
		if err := m.Ack(ctx, f, f.Name+".ack.json", nil); err != nil {
			t.Fatal(err)
		}
		if err := m.Done(ctx, f); err != nil {
			t.Fatal(err)
		}
	}
	if strings.Join(remote.acks, ",") != "r1.csv.ack.json" || strings.Join(remote.done, ",") != "r1.csv" ||
		strings.Join(local.acks, ",") != "l1.csv.ack.json,l2.csv.ack.json" {
		t.Fatalf("acks went astray: local %v remote %v", local.acks, remote.acks)
	}
	// Reports: to the bank's own server when it has one.
	m.Put(ctx, "HVBKKRSE", "positions.json", nil)
	m.Put(ctx, "SHBKKRSE", "positions.json", nil)
	if strings.Join(remote.puts, ",") != "HVBKKRSE/positions.json" || strings.Join(local.puts, ",") != "SHBKKRSE/positions.json" {
		t.Fatalf("reports went astray: local %v remote %v", local.puts, remote.puts)
	}
	// A file that names an inbox that is not there, or another bank's, is refused.
	for _, f := range []jobs.InboxFile{
		{Bank: "HVBKKRSE", Name: "x.csv", Via: "remote:NOSUCHXX"},
		{Bank: "SHBKKRSE", Name: "x.csv", Via: "remote:HVBKKRSE"},
		{Bank: "HVBKKRSE", Name: "x.csv", Via: "elsewhere"},
	} {
		if _, err := m.Open(ctx, f); err == nil {
			t.Errorf("%+v opened", f)
		}
	}
	// The local inbox failing is the collection failing.
	local.err = errors.New("disk gone")
	if _, err := m.List(ctx, 0); err == nil {
		t.Fatal("a failing local inbox hidden")
	}
}

func quietLog() *slog.Logger { return slog.New(slog.NewTextHandler(io.Discard, nil)) }
