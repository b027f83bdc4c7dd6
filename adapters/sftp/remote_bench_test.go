package sftp

import (
	"context"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"testing"
	"time"

	"settle/jobs"
)

// BenchmarkRemotePull measures a collection from a bank's own SFTP server
// as intake does it: list, then for each file read it and its signature,
// write the acknowledgement and mark it taken. Files are 10 KB.
func BenchmarkRemotePull(b *testing.B) {
	const files = 20
	ctx := context.Background()
	bs := startBankServer(b)
	inbox := filepath.Join(bs.ts.root, "banks", string(bankA), "inbox")
	if err := os.MkdirAll(inbox, 0o750); err != nil {
		b.Fatal(err)
	}
	body := make([]byte, 10<<10)
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		b.StopTimer()
		for f := range files {
			name := fmt.Sprintf("B%d-%02d.csv", i, f)
			os.WriteFile(filepath.Join(inbox, name), body, 0o640)
			os.WriteFile(filepath.Join(inbox, name+".sig"), []byte("sig"), 0o640)
		}
		r := bs.remote(b)
		b.StartTimer()
		start := time.Now()
		list, err := r.List(ctx, 0)
		if err != nil || len(list) != files {
			b.Fatalf("listed %d: %v", len(list), err)
		}
		for _, f := range list {
			for _, open := range []func(context.Context, jobs.InboxFile) (io.ReadCloser, error){r.Open, r.OpenSig} {
				rc, err := open(ctx, f)
				if err != nil {
					b.Fatal(err)
				}
				io.Copy(io.Discard, rc)
				rc.Close()
			}
			if err := r.Ack(ctx, f, f.Name+".ack.json", []byte("{}\n")); err != nil {
				b.Fatal(err)
			}
			if err := r.Done(ctx, f); err != nil {
				b.Fatal(err)
			}
		}
		b.ReportMetric(float64(files)/time.Since(start).Seconds(), "files/s")
		if c, ok := any(r).(interface{ Close() error }); ok {
			c.Close()
		}
		b.StopTimer()
		for _, f := range list {
			os.Remove(filepath.Join(inbox, f.Name))
			os.Remove(filepath.Join(inbox, f.SigName()))
		}
		b.StartTimer()
	}
}
