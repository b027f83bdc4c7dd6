package memstore_test

import (
	"testing"
	"time"

	"settle/jobs/memstore"
	"settle/jobs/storetest"
)

func TestContract(t *testing.T) {
	storetest.RunCycleStore(t, func(t *testing.T) storetest.Subject {
		s := memstore.New(func() time.Time { return time.Date(2026, 11, 24, 23, 0, 0, 0, time.UTC) })
		return storetest.Subject{Store: s, Events: s.Events}
	})
}
