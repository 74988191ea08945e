package allreduce

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"sync"
	"sync/atomic"
	"time"

	"github.com/nats-io/nats.go"
)

// helloInterval is how often a joining rank repeats its hello until it has heard every
// rank of its generation.
const helloInterval = 50 * time.Millisecond

// Ring is one rank's membership in a ring all-reduce. AllReduce calls on one Ring are
// serialised; every rank must issue the same sequence of calls with equally shaped
// buffers.
type Ring struct {
	cfg        Config
	t          transport
	log        *slog.Logger
	pieceElems int // elements per piece on the wire
	credits    int // pieces a rank may have unacknowledged at its successor

	opMu sync.Mutex // held by AllReduce and by Close's teardown
	seq  uint64     // next operation number; guarded by opMu
	// completed mirrors seq for readers that cannot take opMu (Close's leave notice and
	// the control handler): the number of operations this rank has finished.
	completed atomic.Uint64
	stash     []message // early pieces of operation seq, guarded by opMu
	sendBuf   []byte    // encode scratch, guarded by opMu

	mu      sync.Mutex
	queue   []message // data and acks not yet looked at by AllReduce
	seen    []bool    // ranks whose hello arrived
	joined  bool
	failure *OpError // sticky: once set, the ring is broken
	// leftAfter is the failure a peer's leave causes when the peer had already finished
	// the operation this rank was in: that operation still completes (the peer sent and
	// acknowledged everything it owed), and the next one fails with it.
	leftAfter *OpError
	wake      chan struct{}

	subs      []subscription
	closeOnce sync.Once
}

// message is a data piece or an ack as received.
type message struct {
	h    header
	data []byte
}

// control is the JSON payload on the control subject.
type control struct {
	Kind    string `json:"kind"` // hello, leave or abort
	Gen     uint64 `json:"gen"`
	Rank    int    `json:"rank"`
	Size    int    `json:"size"`
	Joining bool   `json:"joining,omitempty"`
	Seq     uint64 `json:"seq,omitempty"`
	Reason  string `json:"reason,omitempty"` // abort: kind name of the failure
	Detail  string `json:"detail,omitempty"`
}

// Join subscribes this rank and waits until every rank of the same job and generation
// has subscribed too (or ctx ends), so no piece is ever published before its receiver
// listens. nc must stay open until Close; the Ring does not own it.
func Join(ctx context.Context, nc *nats.Conn, cfg Config) (*Ring, error) {
	if nc == nil {
		return nil, errors.New("allreduce: Join: nil NATS connection")
	}
	return join(ctx, natsTransport{nc}, cfg)
}

func join(ctx context.Context, t transport, cfg Config) (*Ring, error) {
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	cfg = cfg.withDefaults()
	piece := cfg.PieceBytes
	if mp := t.maxPayload(); mp > 0 && mp < piece {
		piece = mp
	}
	eb := cfg.Wire.elemBytes()
	if piece < eb {
		return nil, fmt.Errorf("allreduce: piece of %d bytes cannot hold one %s element", piece, cfg.Wire)
	}
	r := &Ring{
		cfg:        cfg,
		t:          t,
		log:        cfg.Logger.With("component", "allreduce", "job", cfg.Job, "gen", cfg.Generation, "rank", cfg.Rank),
		pieceElems: piece / eb,
		credits:    max(1, cfg.WindowBytes/(piece/eb*eb)),
		seen:       make([]bool, cfg.Size),
		wake:       make(chan struct{}, 1),
	}
	r.seen[cfg.Rank] = true
	r.sendBuf = make([]byte, r.pieceElems*eb)
	inbox, err := t.subscribe(inboxSubject(cfg.Job, cfg.Rank), r.onMessage)
	if err != nil {
		return nil, err
	}
	r.subs = append(r.subs, inbox)
	ctl, err := t.subscribe(controlSubject(cfg.Job), r.onControl)
	if err != nil {
		r.unsubscribe()
		return nil, err
	}
	r.subs = append(r.subs, ctl)
	fctx, cancel := context.WithTimeout(ctx, cfg.Timeout)
	err = t.flush(fctx)
	cancel()
	if err != nil {
		r.unsubscribe()
		return nil, fmt.Errorf("allreduce: flush subscriptions: %w", err)
	}
	if err := r.awaitPeers(ctx); err != nil {
		r.unsubscribe()
		return nil, err
	}
	r.log.Debug("joined ring", "size", cfg.Size, "piece_bytes", r.pieceElems*eb, "credits", r.credits, "wire", cfg.Wire)
	return r, nil
}

// awaitPeers repeats this rank's hello until it has heard a hello from every rank.
func (r *Ring) awaitPeers(ctx context.Context) error {
	tick := time.NewTicker(helloInterval)
	defer tick.Stop()
	for {
		if err := r.sendControl(control{Kind: "hello", Joining: true}); err != nil {
			return fmt.Errorf("allreduce: join: %w", err)
		}
		r.mu.Lock()
		all, failure := true, r.failure
		for _, s := range r.seen {
			all = all && s
		}
		if all && failure == nil {
			r.joined = true
		}
		r.mu.Unlock()
		if failure != nil {
			return failure
		}
		if all {
			return nil
		}
		select {
		case <-ctx.Done():
			missing := []int{}
			r.mu.Lock()
			for i, s := range r.seen {
				if !s {
					missing = append(missing, i)
				}
			}
			r.mu.Unlock()
			return fmt.Errorf("allreduce: join job %s generation %d: ranks %v never said hello: %w", r.cfg.Job, r.cfg.Generation, missing, ctx.Err())
		case <-tick.C:
		case <-r.wake:
		}
	}
}

func (r *Ring) sendControl(c control) error {
	c.Gen, c.Rank, c.Size = r.cfg.Generation, r.cfg.Rank, r.cfg.Size
	b, err := json.Marshal(c)
	if err != nil {
		return err
	}
	return r.t.publish(controlSubject(r.cfg.Job), b)
}

// onControl runs on the transport's delivery goroutine.
func (r *Ring) onControl(_ string, data []byte) {
	var c control
	if err := json.Unmarshal(data, &c); err != nil {
		r.log.Warn("dropping malformed control message", "err", err)
		return
	}
	my := r.cfg
	switch {
	case c.Gen < my.Generation || (c.Gen == my.Generation && c.Rank == my.Rank):
		return // a stale member, or our own echo
	case c.Gen > my.Generation:
		r.fail(&OpError{Kind: ErrGenerationChanged, Peer: c.Rank,
			Detail: fmt.Sprintf("rank %d announced generation %d (%s)", c.Rank, c.Gen, c.Kind)})
		return
	case c.Size != my.Size || c.Rank < 0 || c.Rank >= my.Size:
		r.fail(&OpError{Kind: ErrMismatch, Peer: c.Rank,
			Detail: fmt.Sprintf("rank %d believes the ring has %d ranks, this rank believes %d", c.Rank, c.Size, my.Size)})
		return
	}
	switch c.Kind {
	case "hello":
		r.mu.Lock()
		r.seen[c.Rank] = true
		reply := c.Joining && r.joined
		r.mu.Unlock()
		r.signal()
		if reply {
			if err := r.sendControl(control{Kind: "hello"}); err != nil {
				r.log.Warn("answering hello failed", "peer", c.Rank, "err", err)
			}
		}
	case "leave":
		e := &OpError{Kind: ErrPeerLost, Peer: c.Rank, Detail: fmt.Sprintf("rank %d left the ring", c.Rank)}
		if c.Seq > r.completed.Load() {
			// The peer finished the operation in progress here before leaving, as the
			// ranks of a finished training job do; only later operations are affected.
			e.Rank, e.Generation = r.cfg.Rank, r.cfg.Generation
			r.mu.Lock()
			if r.leftAfter == nil {
				r.leftAfter = e
			}
			r.mu.Unlock()
			return
		}
		r.fail(e)
	case "abort":
		r.fail(&OpError{Kind: remoteKind(c.Reason), Peer: c.Rank, Seq: c.Seq,
			Detail: fmt.Sprintf("rank %d aborted: %s", c.Rank, c.Detail)})
	}
}

// onMessage runs on the transport's delivery goroutine: parse and queue, never block.
func (r *Ring) onMessage(subject string, data []byte) {
	h, err := parseSubject(subject)
	if err != nil {
		r.log.Warn("dropping message", "err", err)
		return
	}
	if h.gen < r.cfg.Generation {
		return // late message of an old generation
	}
	if h.gen > r.cfg.Generation {
		r.fail(&OpError{Kind: ErrGenerationChanged, Peer: -1,
			Detail: fmt.Sprintf("received a message of generation %d", h.gen)})
		return
	}
	r.mu.Lock()
	r.queue = append(r.queue, message{h: h, data: data})
	r.mu.Unlock()
	r.signal()
}

func (r *Ring) signal() {
	select {
	case r.wake <- struct{}{}:
	default:
	}
}

// fail marks the ring broken with e unless it already is. It fills in the identity.
func (r *Ring) fail(e *OpError) *OpError {
	e.Rank, e.Generation = r.cfg.Rank, r.cfg.Generation
	r.mu.Lock()
	if r.failure == nil {
		r.failure = e
		r.log.Warn("ring failed", "err", e)
	}
	f := r.failure
	r.mu.Unlock()
	r.signal()
	return f
}

func (r *Ring) broken() *OpError {
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.failure
}

// brokenBeforeOp is broken for the start of an operation: a peer that left after
// finishing the previous operation breaks the ring now.
func (r *Ring) brokenBeforeOp() *OpError {
	r.mu.Lock()
	if r.failure == nil && r.leftAfter != nil {
		r.failure = r.leftAfter
	}
	f := r.failure
	r.mu.Unlock()
	return f
}

// take hands the queued messages to the operation loop.
func (r *Ring) take() []message {
	r.mu.Lock()
	defer r.mu.Unlock()
	q := r.queue
	r.queue = nil
	return q
}

// Rank and Size report this member's place in the ring.
func (r *Ring) Rank() int { return r.cfg.Rank }

// Size is the number of ranks in the ring.
func (r *Ring) Size() int { return r.cfg.Size }

// PieceBytes is the payload size actually used (Config.PieceBytes capped by max_payload).
func (r *Ring) PieceBytes() int { return r.pieceElems * r.cfg.Wire.elemBytes() }

// Close tells the other ranks that this one leaves (they fail with ErrPeerLost), ends a
// running AllReduce with ErrClosed, and unsubscribes. It does not close the connection.
func (r *Ring) Close() error {
	var err error
	r.closeOnce.Do(func() {
		r.fail(&OpError{Kind: ErrClosed, Peer: -1, Detail: "Close called"})
		if e := r.sendControl(control{Kind: "leave", Seq: r.completed.Load()}); e != nil && !errors.Is(e, nats.ErrConnectionClosed) {
			err = fmt.Errorf("allreduce: announce leave: %w", e)
		}
		r.opMu.Lock()
		defer r.opMu.Unlock()
		if e := r.unsubscribe(); e != nil && err == nil {
			err = e
		}
	})
	return err
}

func (r *Ring) unsubscribe() error {
	var first error
	for _, s := range r.subs {
		if err := s.unsubscribe(); err != nil && first == nil {
			first = fmt.Errorf("allreduce: unsubscribe: %w", err)
		}
	}
	r.subs = nil
	return first
}
