package reconciliation

import "iter"

// prefetchBatch and prefetchDepth bound the read-ahead: at most
// depth+2 batches of items per side are in memory, whatever the size of
// the cycle.
const (
	prefetchBatch = 512
	prefetchDepth = 4
)

// Prefetch reads seq ahead in a goroutine of its own, in batches, so that
// the two sides of a reconciliation (two database cursors, or a database
// and a ledger) are read at the same time instead of in turns, or a
// cursor is read while what it gave is worked on. Memory stays bounded by
// the read-ahead window.
func Prefetch[T any](seq iter.Seq2[T, error]) iter.Seq2[T, error] {
	return func(yield func(T, error) bool) {
		type batch struct {
			rs  []T
			err error
		}
		ch := make(chan batch, prefetchDepth)
		stop := make(chan struct{})
		defer close(stop)
		go func() {
			defer close(ch)
			b := make([]T, 0, prefetchBatch)
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
					b = make([]T, 0, prefetchBatch)
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
				var zero T
				yield(zero, x.err)
				return
			}
		}
	}
}
