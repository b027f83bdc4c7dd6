package fabric

import (
	"context"
	"encoding/json"
	"encoding/pem"
	"fmt"

	"github.com/hyperledger/fabric-protos-go/common"

	"github.com/hyperledger/fabric-sdk-go/pkg/common/providers/fab"
	"github.com/hyperledger/fabric-sdk-go/pkg/fab/events/client"
	"github.com/hyperledger/fabric-sdk-go/pkg/fab/events/deliverclient"
	"github.com/hyperledger/fabric-sdk-go/pkg/fab/events/deliverclient/seek"

	"settle/jobs"
)

// EventCycleSettled is the chaincode event SettleCycle emits.
const EventCycleSettled = "CycleSettled"

// Event is one CycleSettled chaincode event of a valid transaction.
type Event struct {
	Block   uint64 // checkpoint: resume Listen from here
	TxID    string // idempotency key for the consumer
	Name    string
	Cycle   string // the settled cycle's id
	Payload []byte // the settled cycle as the chaincode wrote it (JSON)
}

// Listen delivers the chaincode's CycleSettled events from block
// fromBlock on, in block order, until ctx ends or fn returns an error
// (which Listen returns). To resume after a restart, keep the Block of the
// last event fn handled (e.g. in Postgres, in the same transaction as its
// effect) and pass it as fromBlock: that block's events come again, so fn
// must skip a TxID it has already handled. Only events of valid
// transactions are delivered (the peers drop the others' events).
func (c *Client) Listen(ctx context.Context, fromBlock uint64, fn func(Event) error) error {
	chCtx, err := c.chp()
	if err != nil {
		return fmt.Errorf("listen: %w", err)
	}
	cfg, err := chCtx.ChannelService().ChannelConfig()
	if err != nil {
		return fmt.Errorf("listen: %w: channel config: %v", jobs.ErrLedgerUnavailable, err)
	}
	disc, err := chCtx.ChannelService().Discovery()
	if err != nil {
		return fmt.Errorf("listen: discovery: %w", err)
	}
	es, err := deliverclient.New(chCtx, cfg, disc,
		client.WithBlockEvents(), client.WithReconnect(true),
		deliverclient.WithSeekType(seek.FromBlock), deliverclient.WithBlockNum(fromBlock))
	if err != nil {
		return fmt.Errorf("listen: %w: event service: %v", jobs.ErrLedgerUnavailable, err)
	}
	defer es.Close()
	if err := es.Connect(); err != nil {
		return fmt.Errorf("listen: %w: connecting for events: %v", jobs.ErrLedgerUnavailable, err)
	}
	reg, events, err := es.RegisterChaincodeEvent(c.net.Chaincode, "^"+EventCycleSettled+"$")
	if err != nil {
		return fmt.Errorf("listen: register: %w", err)
	}
	defer es.Unregister(reg)
	var blocks <-chan *fab.BlockEvent
	if c.onForeign != nil {
		breg, b, err := es.RegisterBlockEvent()
		if err != nil {
			return fmt.Errorf("listen: register blocks: %w", err)
		}
		defer es.Unregister(breg)
		blocks = b
	}
	for {
		select {
		case <-ctx.Done():
			return ctx.Err()
		case be, ok := <-blocks:
			if !ok {
				return fmt.Errorf("listen: %w: block stream closed", jobs.ErrLedgerUnavailable)
			}
			for _, f := range c.foreignTxs(be.Block) {
				c.onForeign(f)
			}
		case ev, ok := <-events:
			if !ok {
				return fmt.Errorf("listen: %w: event stream closed", jobs.ErrLedgerUnavailable)
			}
			if err := fn(toEvent(ev)); err != nil {
				return err
			}
		}
	}
}

// ForeignTx is a transaction of the chaincode that another identity than the
// client's own signed.
type ForeignTx struct {
	Block     uint64
	TxID      string
	Submitter string // "MSP role CN" (Submitter)
	Function  string
	Valid     bool // the committing peers validated it
}

// certDER is the DER of the first certificate in a PEM text (nil if none).
func certDER(p []byte) []byte {
	b, _ := pem.Decode(p)
	if b == nil {
		return nil
	}
	return b.Bytes
}

// foreignTxs lists the transactions of this chaincode in block that the
// client's identity did not sign.
func (c *Client) foreignTxs(b *common.Block) []ForeignTx {
	num := b.GetHeader().GetNumber()
	filter := txFilter(b)
	var out []ForeignTx
	for i, raw := range b.GetData().GetData() {
		t, err := c.blockTx(raw, i, filter)
		if err != nil || !t.Foreign {
			continue
		}
		out = append(out, ForeignTx{Block: num, TxID: t.ID, Submitter: t.Submitter, Function: t.Function, Valid: t.Valid})
	}
	return out
}

func toEvent(ev *fab.CCEvent) Event {
	e := Event{Block: ev.BlockNumber, TxID: ev.TxID, Name: ev.EventName, Payload: ev.Payload}
	var v struct {
		CycleID string `json:"cycleId"`
	}
	if json.Unmarshal(ev.Payload, &v) == nil {
		e.Cycle = v.CycleID
	}
	return e
}
