package sampler

import (
	"context"
	"encoding/json"
	"log/slog"
	"slices"
	"sync/atomic"
	"time"

	clientv3 "go.etcd.io/etcd/client/v3"

	"github.com/latexblend/latexblend/service"
)

// StatePrefix is where samplers publish what the routing client needs besides the
// member record: StatePrefix + <member id>, a SamplerState bound to the member's
// lease, so it vanishes with the node.
const StatePrefix = service.KeyRoot + "sampler-state/"

// StateKey is the state key of one sampler.
func StateKey(id string) string { return StatePrefix + id }

// SamplerState is a sampler's published routing state.
type SamplerState struct {
	ID string `json:"id"`
	// Ready is true once the base model is loaded.
	Ready bool `json:"ready"`
	// QueueDepth mirrors the member record's (admitted, unfinished requests).
	QueueDepth int `json:"queue_depth"`
	// Concepts are the names held in the node's concept cache.
	Concepts []string  `json:"concepts"`
	Updated  time.Time `json:"updated"`
}

// publisher keeps the member record's queue depth and the state key current, writing at
// most once per interval (the last change is always written).
type publisher struct {
	node     *service.Node
	interval time.Duration
	depth    func() int
	names    func() []string
	log      *slog.Logger
	ready    atomic.Bool
	kickCh   chan struct{}
}

func newPublisher(node *service.Node, interval time.Duration, depth func() int, log *slog.Logger) *publisher {
	return &publisher{node: node, interval: interval, depth: depth, names: func() []string { return nil }, log: log, kickCh: make(chan struct{}, 1)}
}

func (p *publisher) kick() {
	select {
	case p.kickCh <- struct{}{}:
	default:
	}
}

func (p *publisher) setReady() {
	p.ready.Store(true)
	p.kick()
}

func (p *publisher) loop(ctx context.Context) {
	var last time.Time
	var prev SamplerState
	prevDepth := -1
	for {
		select {
		case <-ctx.Done():
			return
		case <-p.kickCh:
		}
		if wait := p.interval - time.Since(last); wait > 0 {
			select {
			case <-ctx.Done():
				return
			case <-time.After(wait):
			}
		}
		last = time.Now()
		reg := p.node.Registration()
		if reg == nil {
			continue
		}
		depth := p.depth()
		if depth != prevDepth {
			if err := reg.Update(ctx, func(m *service.Member) { m.QueueDepth = depth }); err != nil {
				p.log.Debug("sampler: update member record", "err", err)
				p.kick() // retry after the interval
				continue
			}
			prevDepth = depth
		}
		st := SamplerState{ID: p.node.ID(), Ready: p.ready.Load(), QueueDepth: depth, Concepts: p.names()}
		if st.Ready == prev.Ready && st.QueueDepth == prev.QueueDepth && slices.Equal(st.Concepts, prev.Concepts) && !prev.Updated.IsZero() {
			continue
		}
		st.Updated = time.Now().UTC()
		b, _ := json.Marshal(st)
		if _, err := p.node.Etcd.Put(ctx, StateKey(st.ID), string(b), clientv3.WithLease(reg.Lease())); err != nil {
			p.log.Debug("sampler: publish state", "err", err)
			p.kick()
			continue
		}
		prev = st
	}
}
