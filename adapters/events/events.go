// Package events carries the stages' events through watermill: durable on
// Postgres by default (watermill-sql, published inside the transaction
// that records the state they announce), with retries, backoff and a
// poison queue operators can list and replay. It is the only package that
// imports watermill; the jobs only see jobs.Event and jobs.Handler.
package events

import (
	"context"
	"database/sql"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"time"

	"github.com/ThreeDotsLabs/watermill"
	wsql "github.com/ThreeDotsLabs/watermill-sql/v4/pkg/sql"
	"github.com/ThreeDotsLabs/watermill/message"
	"github.com/ThreeDotsLabs/watermill/message/router/middleware"

	"settle/jobs"
)

// PoisonTopic holds events whose handler kept failing.
const PoisonTopic = "settle.poison"

// ConsumerGroup is the pipeline's subscription.
const ConsumerGroup = "settle-pipeline"

// Retry policy of a handler before its event goes to the poison queue:
// the ledger may be down for a few minutes (a peer restart, a Raft
// election); longer than that, an operator looks.
var Retry = middleware.Retry{
	MaxRetries:          8,
	InitialInterval:     500 * time.Millisecond,
	MaxInterval:         time.Minute,
	Multiplier:          2,
	RandomizationFactor: 0.2,
}

// Bus publishes and consumes the pipeline's events on Postgres.
type Bus struct {
	db      *sql.DB
	log     *slog.Logger
	wlog    watermill.LoggerAdapter
	schema  wsql.DefaultPostgreSQLSchema
	offsets wsql.DefaultPostgreSQLOffsetsAdapter
	// PollInterval is how often an idle subscriber looks for new events.
	PollInterval time.Duration
	// Retry overrides the package default (tests shorten it).
	Retry *middleware.Retry
}

// New makes a bus over db.
func New(db *sql.DB, log *slog.Logger) *Bus {
	if log == nil {
		log = slog.Default()
	}
	// Watermill's own INFO (schema set-up, subscriptions) is debug detail here.
	wlog := watermill.NewSlogLoggerWithLevelMapping(log.With("component", "watermill"), map[slog.Level]slog.Level{slog.LevelInfo: slog.LevelDebug})
	return &Bus{db: db, log: log, wlog: wlog,
		schema: wsql.DefaultPostgreSQLSchema{SubscribeBatchSize: 10}, PollInterval: 200 * time.Millisecond}
}

// AllTopics is every topic the bus creates a table for.
func AllTopics() []string {
	return append(append([]string{}, jobs.Topics...), jobs.TopicCycleReported, jobs.TopicFileTaken, PoisonTopic)
}

// Init creates the tables of every topic, once, outside any transaction
// (a publisher inside a transaction must not create tables).
func (b *Bus) Init(ctx context.Context) error {
	for _, t := range AllTopics() {
		// The subscriber's initialisation creates the topic's messages
		// table and its offsets table.
		sub, err := b.subscriber()
		if err != nil {
			return err
		}
		if err := sub.SubscribeInitialize(t); err != nil {
			return fmt.Errorf("init offsets of %s: %w", t, err)
		}
		sub.Close()
	}
	return nil
}

func (b *Bus) subscriber() (*wsql.Subscriber, error) {
	ack := 5 * time.Minute // a ledger step may take minutes; nack only a dead handler
	return wsql.NewSubscriber(wsql.BeginnerFromStdSQL(b.db), wsql.SubscriberConfig{
		ConsumerGroup:  ConsumerGroup,
		AckDeadline:    &ack,
		PollInterval:   b.PollInterval,
		ResendInterval: time.Second,
		RetryInterval:  time.Second,
		SchemaAdapter:  b.schema,
		OffsetsAdapter: b.offsets,
	}, b.wlog)
}

func toMessage(e jobs.Event) *message.Message {
	m := message.NewMessage(watermill.NewUUID(), e.Payload())
	m.Metadata.Set("event_id", e.ID)
	m.Metadata.Set("cycle", e.Cycle)
	return m
}

// PublishTx writes e into the outbox inside tx: it becomes visible to
// subscribers exactly when tx commits, and is lost exactly when tx is.
func (b *Bus) PublishTx(ctx context.Context, tx *sql.Tx, e jobs.Event) error {
	pub, err := wsql.NewPublisher(wsql.TxFromStdSQL(tx), wsql.PublisherConfig{SchemaAdapter: b.schema}, b.wlog)
	if err != nil {
		return err
	}
	m := toMessage(e)
	m.SetContext(ctx)
	return pub.Publish(e.Topic, m)
}

// Publish writes e outside any transaction (replays, tools).
func (b *Bus) Publish(ctx context.Context, e jobs.Event) error {
	pub, err := wsql.NewPublisher(wsql.BeginnerFromStdSQL(b.db), wsql.PublisherConfig{SchemaAdapter: b.schema}, b.wlog)
	if err != nil {
		return err
	}
	m := toMessage(e)
	m.SetContext(ctx)
	return pub.Publish(e.Topic, m)
}

// Run consumes the pipeline's topics until ctx ends, calling handle for
// each event, with retries and the poison queue.
func (b *Bus) Run(ctx context.Context, handle jobs.Handler) error {
	sub, err := b.subscriber()
	if err != nil {
		return err
	}
	pub, err := wsql.NewPublisher(wsql.BeginnerFromStdSQL(b.db), wsql.PublisherConfig{SchemaAdapter: b.schema}, b.wlog)
	if err != nil {
		return err
	}
	return b.route(ctx, sub, pub, handle)
}

// route runs a watermill router over any subscriber (Postgres, NATS): the
// handlers are the same whatever carries the events.
func (b *Bus) route(ctx context.Context, sub message.Subscriber, poisonPub message.Publisher, handle jobs.Handler) error {
	r, err := message.NewRouter(message.RouterConfig{CloseTimeout: 30 * time.Second}, b.wlog)
	if err != nil {
		return err
	}
	poison, err := middleware.PoisonQueue(poisonPub, PoisonTopic)
	if err != nil {
		return err
	}
	retry := Retry
	if b.Retry != nil {
		retry = *b.Retry
	}
	retry.Logger = b.wlog
	r.AddMiddleware(poison, retry.Middleware, middleware.Recoverer)
	for _, t := range jobs.Topics {
		r.AddConsumerHandler("stage:"+t, t, sub, func(m *message.Message) error {
			e, err := jobs.ParseEvent(m.Payload)
			if err != nil {
				return fmt.Errorf("%w: %v", errMalformed, err)
			}
			b.log.Info("event", "topic", e.Topic, "cycle", e.Cycle, "event_id", e.ID)
			return handle(m.Context(), e)
		})
	}
	return r.Run(ctx)
}

var errMalformed = errors.New("malformed event")

// Poisoned is an event that went to the poison queue (the value is the
// jobs layer's, so the console reads it without importing this adapter).
type Poisoned = jobs.Poisoned

// poisonedMax bounds one listing.
const poisonedMax = 1000

// ListPoisoned lists the poison queue, oldest first.
func (b *Bus) ListPoisoned(ctx context.Context) ([]Poisoned, error) {
	rows, err := b.db.QueryContext(ctx, `SELECT "offset", uuid, created_at, payload, metadata FROM `+b.schema.MessagesTable(PoisonTopic)+
		` ORDER BY "offset" LIMIT $1`, poisonedMax)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	var out []Poisoned
	for rows.Next() {
		var p Poisoned
		var payload, meta []byte
		if err := rows.Scan(&p.Offset, &p.UUID, &p.At, &payload, &meta); err != nil {
			return nil, err
		}
		var md map[string]string
		_ = json.Unmarshal(meta, &md)
		p.Topic, p.Reason = md[middleware.PoisonedTopicKey], md[middleware.ReasonForPoisonedKey]
		p.Event, _ = jobs.ParseEvent(payload)
		out = append(out, p)
	}
	return out, rows.Err()
}

// Replay publishes a poisoned event again on its original topic. The
// poison queue keeps its record (it is a log); a replayed event that
// fails again is poisoned again, with a new record.
func (b *Bus) Replay(ctx context.Context, uuid string) (jobs.Event, error) {
	ps, err := b.ListPoisoned(ctx)
	if err != nil {
		return jobs.Event{}, err
	}
	for _, p := range ps {
		if p.UUID == uuid {
			if p.Event.Topic == "" {
				return jobs.Event{}, fmt.Errorf("poisoned message %s has no readable event", uuid)
			}
			return p.Event, b.Publish(ctx, p.Event)
		}
	}
	return jobs.Event{}, fmt.Errorf("no poisoned message %s", uuid)
}
