package allreduce

import (
	"context"
	"fmt"

	"github.com/nats-io/nats.go"
)

// transport is all the ring needs from a message bus. The NATS implementation is the
// only production one; tests wrap it to inject faults (dropped pieces).
type transport interface {
	publish(subject string, data []byte) error
	// subscribe delivers every message on subject to fn, from one goroutine, in order.
	// fn must not block for long.
	subscribe(subject string, fn func(subject string, data []byte)) (subscription, error)
	// flush returns once the server has processed everything sent so far (including
	// subscriptions), so peers can rely on them.
	flush(ctx context.Context) error
	// maxPayload is the largest payload the server accepts, in bytes.
	maxPayload() int
}

type subscription interface {
	unsubscribe() error
	// dropped counts messages the client discarded because the subscriber fell behind.
	dropped() int
}

type natsTransport struct{ nc *nats.Conn }

func (t natsTransport) publish(subject string, data []byte) error {
	return t.nc.Publish(subject, data)
}

func (t natsTransport) subscribe(subject string, fn func(string, []byte)) (subscription, error) {
	sub, err := t.nc.Subscribe(subject, func(m *nats.Msg) { fn(m.Subject, m.Data) })
	if err != nil {
		return nil, fmt.Errorf("allreduce: subscribe %s: %w", subject, err)
	}
	// The handler only queues messages, and the sender's credit window bounds how many
	// can be queued, so the client-side limits only need to be out of the way.
	if err := sub.SetPendingLimits(-1, -1); err != nil {
		sub.Unsubscribe()
		return nil, fmt.Errorf("allreduce: pending limits on %s: %w", subject, err)
	}
	return natsSub{sub}, nil
}

func (t natsTransport) flush(ctx context.Context) error { return t.nc.FlushWithContext(ctx) }

func (t natsTransport) maxPayload() int { return int(t.nc.MaxPayload()) }

type natsSub struct{ s *nats.Subscription }

func (s natsSub) unsubscribe() error {
	if err := s.s.Unsubscribe(); err != nil && err != nats.ErrConnectionClosed && err != nats.ErrBadSubscription {
		return err
	}
	return nil
}

func (s natsSub) dropped() int {
	n, err := s.s.Dropped()
	if err != nil {
		return 0
	}
	return n
}
