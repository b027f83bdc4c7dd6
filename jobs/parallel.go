package jobs

import (
	"context"
	"iter"
	"sync"
)

// inParallel runs do on each item, workers at a time, as the record step
// writes to the ledger: the first failure (of do, or of the items
// themselves) cancels the rest and is returned; after runs once per item
// done, one call at a time (progress). Items already fed when a failure
// happens are finished or cancelled with the context; nothing is fed after.
func inParallel[T any](ctx context.Context, workers int, items iter.Seq2[T, error], do func(context.Context, T) error, after func()) error {
	if workers <= 0 {
		workers = ChunkWorkersDefault
	}
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	work := make(chan T)
	var wg sync.WaitGroup
	var mu sync.Mutex
	var firstErr error
	fail := func(err error) {
		mu.Lock()
		if firstErr == nil {
			firstErr = err
			cancel()
		}
		mu.Unlock()
	}
	for range workers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for it := range work {
				if err := do(ctx, it); err != nil {
					fail(err)
				}
				if after != nil {
					mu.Lock()
					after()
					mu.Unlock()
				}
			}
		}()
	}
	for it, err := range items {
		if err != nil {
			fail(err)
			break
		}
		select {
		case work <- it:
		case <-ctx.Done():
		}
		if ctx.Err() != nil {
			break
		}
	}
	close(work)
	wg.Wait()
	if firstErr != nil {
		return firstErr
	}
	return ctx.Err()
}
