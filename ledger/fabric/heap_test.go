package fabric

import (
	"runtime"
	"runtime/metrics"
	"sync/atomic"
	"time"
)

// heapGrowth samples the client's live heap (what its objects hold) every
// 20 ms from now on and returns a function that stops and answers the peak
// growth over the start, in bytes: the client's own working memory while
// it records, apart from what the benchmark made before the clock started
// (the files' bodies, which grow with the payments).
func heapGrowth() func() uint64 {
	runtime.GC()
	sample := []metrics.Sample{{Name: "/memory/classes/heap/objects:bytes"}}
	read := func() uint64 {
		metrics.Read(sample)
		return sample[0].Value.Uint64()
	}
	base := read()
	var peak atomic.Uint64
	stop, done := make(chan struct{}), make(chan struct{})
	go func() {
		defer close(done)
		t := time.NewTicker(20 * time.Millisecond)
		defer t.Stop()
		for {
			if v := read(); v > base && v-base > peak.Load() {
				peak.Store(v - base)
			}
			select {
			case <-stop:
				return
			case <-t.C:
			}
		}
	}()
	return func() uint64 {
		close(stop)
		<-done
		return peak.Load()
	}
}
