package jobs

import (
	"context"
	"errors"
	"log/slog"
	"time"
)

// LedgerEvent is an event the ledger emitted (CycleSettled).
type LedgerEvent struct {
	Block   uint64
	TxID    string
	Name    string
	Cycle   string
	Payload []byte
}

// EventLog keeps the ledger's events and the block to resume from, in
// Postgres: an event and its checkpoint are written together.
type EventLog interface {
	LedgerCheckpoint(ctx context.Context, name string) (block uint64, ok bool, err error)
	SaveLedgerEvent(ctx context.Context, name string, e LedgerEvent) error
}

// Listener delivers the ledger's events from a block on (the Fabric
// client's Listen), until ctx ends or fn fails.
type Listener func(ctx context.Context, from uint64, fn func(LedgerEvent) error) error

// Follow backoff bounds.
const (
	followBackoffMin = time.Second
	followBackoffMax = time.Minute
)

// FollowLedger records the ledger's events as they come, from the saved
// checkpoint on, and reconnects (with a bounded backoff) when the stream
// breaks, until ctx ends. The checkpoint block is delivered again after a
// restart; SaveLedgerEvent keeps an event once by its transaction id.
func FollowLedger(ctx context.Context, name string, listen Listener, log EventLog, logger *slog.Logger, seen func(LedgerEvent)) error {
	backoff := followBackoffMin
	for {
		from, _, err := log.LedgerCheckpoint(ctx, name)
		if err == nil {
			err = listen(ctx, from, func(e LedgerEvent) error {
				if err := log.SaveLedgerEvent(ctx, name, e); err != nil {
					return err
				}
				backoff = followBackoffMin
				if seen != nil {
					seen(e)
				}
				return nil
			})
		}
		if ctx.Err() != nil {
			return nil
		}
		level := slog.LevelWarn
		if !errors.Is(err, ErrLedgerUnavailable) {
			level = slog.LevelError
		}
		logger.Log(ctx, level, "ledger event stream stopped; reconnecting", "from_block", from, "err", err, "after", backoff)
		select {
		case <-ctx.Done():
			return nil
		case <-time.After(backoff):
		}
		backoff = min(2*backoff, followBackoffMax)
	}
}
