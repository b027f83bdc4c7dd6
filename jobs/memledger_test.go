package jobs_test

import (
	"os"

	"settle/jobs/memledger"
)

// memLedger is the in-memory ledger of the unit tests (package memledger).
type memLedger = memledger.Ledger

func newMemLedger() *memLedger { return memledger.New() }

func getenv(k string) string { return os.Getenv(k) }
