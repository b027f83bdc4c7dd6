package memstore_test

import (
	"testing"
	"time"

	"settle/jobs"
	"settle/jobs/memstore"
	"settle/jobs/storetest"
)

// clock is the memory store's now in every suite.
func clock() time.Time { return time.Date(2026, 11, 24, 23, 0, 0, 0, time.UTC) }

func TestContract(t *testing.T) {
	storetest.RunCycleStore(t, func(t *testing.T) storetest.Subject {
		s := memstore.New(clock)
		return storetest.Subject{Store: s, Events: s.Events}
	})
}

func TestIntakeStoreContract(t *testing.T) {
	storetest.RunIntakeStore(t, func(t *testing.T) storetest.IntakeSubject {
		s := memstore.New(clock)
		return storetest.IntakeSubject{Store: s, Cycles: s, Files: s, AddBank: s.AddBank,
			AddKey: func(k storetest.Key) error {
				return s.AddKey(memstore.Key{Bank: k.Bank, Label: k.Label, PEM: k.PEM, ValidFrom: k.ValidFrom, ValidTo: k.ValidTo})
			},
			AcknowledgedAt: func(row int64) (time.Time, bool, error) { at, ok := s.AcknowledgedAt(row); return at, ok, nil }}
	})
}

func pipelineSubject(t *testing.T) storetest.PipelineSubject {
	s := memstore.New(clock)
	return storetest.PipelineSubject{Store: s, Intake: s, AddBank: s.AddBank, SetCap: s.SetCap, SetBreakState: s.SetBreakState}
}

func TestReconcileStoreContract(t *testing.T) { storetest.RunReconcileStore(t, pipelineSubject) }

func TestPipelineStoreContract(t *testing.T) { storetest.RunPipelineStore(t, pipelineSubject) }

// TestFileListerContract: the governed path's file list (jobs.FileLister,
// part of jobs.PipelineStore) on memory, the suite Postgres runs too.
func TestFileListerContract(t *testing.T) {
	storetest.RunFileLister(t, func(t *testing.T) storetest.FileStore {
		s := memstore.New(clock)
		for _, b := range storetest.Members {
			if err := s.AddBank(b); err != nil {
				t.Fatal(err)
			}
		}
		return s
	})
}

// TestRunLogContract: the scheduler's run log on memory, the suite
// Postgres runs too.
func TestRunLogContract(t *testing.T) {
	storetest.RunRunLog(t, func(t *testing.T) jobs.RunLog { return memstore.New(clock) })
}

// TestResolutionStoreContract: the ledger's gridlock resolution as the
// store keeps it, on memory, the suite Postgres runs too.
func TestResolutionStoreContract(t *testing.T) { storetest.RunResolutionStore(t, pipelineSubject) }
