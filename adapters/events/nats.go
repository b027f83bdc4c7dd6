package events

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"time"

	wnats "github.com/ThreeDotsLabs/watermill-nats/v2/pkg/nats"
	wsql "github.com/ThreeDotsLabs/watermill-sql/v4/pkg/sql"
	"github.com/ThreeDotsLabs/watermill/message"
	"github.com/nats-io/nats.go"

	"settle/jobs"
)

// StreamName is the JetStream stream that carries every pipeline topic
// (subjects settle.>). Stream names cannot hold dots, so the stream is
// provisioned here rather than by watermill, which names it after a topic.
const StreamName = "SETTLE"

func sanitize(topic string) string {
	return strings.NewReplacer(".", "_", "*", "_", ">", "_").Replace(topic)
}

// subjects: the topic is the subject; a durable queue group per topic, so
// that instances share the work of each topic and a restarted one resumes
// where the group stopped.
func subjects(_ string, topic string) *wnats.SubjectDetail {
	return &wnats.SubjectDetail{Primary: topic, QueueGroup: "settle_" + sanitize(topic)}
}

// RunNATS runs the pipeline over NATS JetStream, for when the stages are
// spread over machines. Events are still written to the Postgres outbox in
// the transaction of the state they announce; a relay forwards them to
// JetStream (deduplicated by message id), and the same handlers consume
// them from there. Poisoned events go to the Postgres poison queue, so
// operators list and replay them the same way whatever the broker.
func (b *Bus) RunNATS(ctx context.Context, url string, handle jobs.Handler) error {
	nc, err := nats.Connect(url, nats.Name("settle"), nats.MaxReconnects(-1), nats.ReconnectWait(time.Second))
	if err != nil {
		return fmt.Errorf("nats %s: %w", url, err)
	}
	defer nc.Close()
	js, err := nc.JetStream()
	if err != nil {
		return err
	}
	if _, err := js.StreamInfo(StreamName); errors.Is(err, nats.ErrStreamNotFound) {
		if _, err := js.AddStream(&nats.StreamConfig{Name: StreamName, Subjects: []string{"settle.>"},
			Storage: nats.FileStorage, Duplicates: 10 * time.Minute}); err != nil {
			return fmt.Errorf("create stream %s: %w", StreamName, err)
		}
	} else if err != nil {
		return err
	}
	jsConf := wnats.JetStreamConfig{
		TrackMsgId:        true, // the relay may resend after a crash; JetStream drops the copy
		DurableCalculator: func(_ string, topic string) string { return "settle_" + sanitize(topic) },
		SubscribeOptions:  []nats.SubOpt{nats.DeliverAll(), nats.AckExplicit(), nats.ManualAck()},
	}
	natsPub, err := wnats.NewPublisherWithNatsConn(nc, wnats.PublisherPublishConfig{
		Marshaler: &wnats.NATSMarshaler{}, SubjectCalculator: subjects, JetStream: jsConf}, b.wlog)
	if err != nil {
		return err
	}
	natsSub, err := wnats.NewSubscriberWithNatsConn(nc, wnats.SubscriberSubscriptionConfig{
		Unmarshaler: &wnats.NATSMarshaler{}, SubjectCalculator: subjects, SubscribersCount: 1,
		AckWaitTimeout: 5 * time.Minute, CloseTimeout: 30 * time.Second, SubscribeTimeout: 30 * time.Second,
		NakDelay: wnats.NewStaticDelay(time.Second), JetStream: jsConf, QueueGroupPrefix: "settle"}, b.wlog)
	if err != nil {
		return err
	}
	pgPub, err := wsql.NewPublisher(wsql.BeginnerFromStdSQL(b.db), wsql.PublisherConfig{SchemaAdapter: b.schema}, b.wlog)
	if err != nil {
		return err
	}
	relaySub, err := b.relaySubscriber()
	if err != nil {
		return err
	}
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	errs := make(chan error, 2)
	go func() { errs <- b.relay(ctx, relaySub, natsPub) }()
	go func() { errs <- b.route(ctx, natsSub, pgPub, handle) }()
	err = <-errs
	cancel()
	if err2 := <-errs; err == nil {
		err = err2
	}
	return err
}

// relayGroup is the Postgres consumer group of the relay.
const relayGroup = "settle-relay"

func (b *Bus) relaySubscriber() (*wsql.Subscriber, error) {
	ack := time.Minute
	return wsql.NewSubscriber(wsql.BeginnerFromStdSQL(b.db), wsql.SubscriberConfig{
		ConsumerGroup: relayGroup, AckDeadline: &ack, PollInterval: b.PollInterval,
		ResendInterval: time.Second, RetryInterval: time.Second, SchemaAdapter: b.schema, OffsetsAdapter: b.offsets,
	}, b.wlog)
}

// relay forwards every pipeline topic from the Postgres outbox to NATS; a
// message is acknowledged in Postgres only once JetStream has it.
func (b *Bus) relay(ctx context.Context, sub message.Subscriber, pub message.Publisher) error {
	r, err := message.NewRouter(message.RouterConfig{CloseTimeout: 30 * time.Second}, b.wlog)
	if err != nil {
		return err
	}
	for _, t := range jobs.Topics {
		r.AddHandler("relay:"+t, t, sub, t, pub, func(m *message.Message) ([]*message.Message, error) {
			out := message.NewMessage(m.UUID, m.Payload)
			out.Metadata = m.Metadata
			return []*message.Message{out}, nil
		})
	}
	return r.Run(ctx)
}
