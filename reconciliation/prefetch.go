package reconciliation

import "iter"

// prefetchBatch and prefetchDepth bound the read-ahead: at most
// depth+2 batches of records per side are in memory, whatever the size of
// the cycle.
const (
	prefetchBatch = 512
	prefetchDepth = 4
)

// Prefetch reads seq ahead in a goroutine of its own, in batches, so that
// the two sides of a reconciliation (two database cursors, or a database
// and a ledger) are read at the same time instead of in turns. Memory stays
// bounded by the read-ahead window.
func Prefetch(seq iter.Seq2[Record, error]) iter.Seq2[Record, error] {
	return func(yield func(Record, error) bool) {
		type batch struct {
			rs  []Record
			err error
		}
		ch := make(chan batch, prefetchDepth)
		stop := make(chan struct{})
		defer close(stop)
		go func() {
			defer close(ch)
			b := make([]Record, 0, prefetchBatch)
			send := func(x batch) bool {
				select {
				case ch <- x:
					return true
				case <-stop:
					return false
				}
			}
			for r, err := range seq {
				if err != nil {
					send(batch{rs: b, err: err})
					return
				}
				b = append(b, r)
				if len(b) == prefetchBatch {
					if !send(batch{rs: b}) {
						return
					}
					b = make([]Record, 0, prefetchBatch)
				}
			}
			if len(b) > 0 {
				send(batch{rs: b})
			}
		}()
		for x := range ch {
			for _, r := range x.rs {
				if !yield(r, nil) {
					return
				}
			}
			if x.err != nil {
				yield(Record{}, x.err)
				return
			}
		}
	}
}
