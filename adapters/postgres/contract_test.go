package postgres_test

import (
	"context"
	"database/sql"
	"sync"
	"testing"

	"settle/adapters/postgres/pgtest"
	"settle/jobs"
	"settle/jobs/storetest"
)

// TestCycleStoreContract runs jobs.CycleStore's contract, the one memstore
// passes, on a real Postgres.
func TestCycleStoreContract(t *testing.T) {
	storetest.RunCycleStore(t, func(t *testing.T) storetest.Subject {
		s, _ := pgtest.NewStore(t)
		var mu sync.Mutex
		var events []jobs.Event
		j := s.Jobs(func(_ context.Context, _ *sql.Tx, e jobs.Event) error {
			mu.Lock()
			defer mu.Unlock()
			events = append(events, e)
			return nil
		}, "contract")
		return storetest.Subject{Store: j, Events: func() []jobs.Event {
			mu.Lock()
			defer mu.Unlock()
			return append([]jobs.Event(nil), events...)
		}}
	})
}
