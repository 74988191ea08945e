package allreduce

import (
	"context"
	"errors"
	"fmt"
	"time"
)

// AllReduce combines bufs, taken as one fused vector, across all ranks in place: after a
// nil return every rank holds bitwise identical values. The ring runs reduce-scatter then
// all-gather (2(Size-1) steps); pieces of consecutive steps are pipelined, each rank
// sends only to its successor and never has more than the credit window unacknowledged.
//
// On error the buffers hold partial results and must not be used; the Ring is broken
// (see OpError). With Size 1 the call returns at once and leaves bufs unchanged.
func (r *Ring) AllReduce(ctx context.Context, op Op, bufs ...[]float32) error {
	if op != Sum && op != Mean {
		return fmt.Errorf("allreduce: unknown op %d", int(op))
	}
	r.opMu.Lock()
	defer r.opMu.Unlock()
	if f := r.brokenBeforeOp(); f != nil {
		return f
	}
	if r.cfg.Size == 1 {
		return nil
	}
	s := newOpState(r, op, newFused(bufs))
	err := s.run(ctx)
	if err != nil {
		return err
	}
	r.seq++
	r.completed.Store(r.seq)
	return nil
}

// opState is one operation's progress on this rank. Step s sends chunk (rank-s) mod n
// and receives chunk (rank-s-1) mod n; steps 0..n-2 are the reduce-scatter (received
// pieces are added), steps n-1..2n-3 the all-gather (received pieces overwrite). Piece j
// of send step s is ready once piece j of receive step s-1 has arrived.
type opState struct {
	r   *Ring
	op  Op
	v   fused
	lay layout
	n   int
	seq uint64

	steps                 int
	recvDone              [][]bool
	toSend, toRecv        int
	sendStep, sendPiece   int
	sent, acked, received int
	ackedReported         int // last cumulative count we acknowledged to the predecessor
	lastProgress          time.Time
}

func newOpState(r *Ring, op Op, v fused) *opState {
	n := r.cfg.Size
	s := &opState{r: r, op: op, v: v, n: n, seq: r.seq, steps: 2 * (n - 1),
		lay: layout{total: v.total(), size: n, piece: r.pieceElems}}
	s.recvDone = make([][]bool, s.steps)
	for st := range s.steps {
		s.recvDone[st] = make([]bool, s.lay.pieces(s.recvChunk(st)))
		s.toRecv += len(s.recvDone[st])
		s.toSend += s.lay.pieces(s.sendChunk(st))
	}
	return s
}

func (s *opState) sendChunk(step int) int { return mod(s.r.cfg.Rank-step, s.n) }
func (s *opState) recvChunk(step int) int { return mod(s.r.cfg.Rank-step-1, s.n) }

func mod(a, n int) int { return ((a % n) + n) % n }

func (s *opState) done() bool {
	return s.sent == s.toSend && s.acked == s.toSend && s.received == s.toRecv
}

func (s *opState) run(ctx context.Context) error {
	r := s.r
	s.lastProgress = time.Now()
	timer := time.NewTimer(r.cfg.Timeout)
	defer timer.Stop()

	// Pieces of this operation that arrived while the previous one was finishing.
	early := r.stash
	r.stash = nil
	if err := s.handle(early); err != nil {
		return s.abort(err)
	}
	for {
		if f := r.broken(); f != nil {
			return f
		}
		if s.done() {
			return nil
		}
		progressed := false
		if msgs := r.take(); len(msgs) > 0 {
			if err := s.handle(msgs); err != nil {
				return s.abort(err)
			}
			progressed = true
		}
		if s.readyToSend() {
			if err := s.sendNext(); err != nil {
				return s.abort(err)
			}
			continue // look at the queue between pieces so acks are not delayed
		}
		if progressed {
			continue
		}
		select {
		case <-r.wake:
		case <-timer.C:
			if idle := time.Since(s.lastProgress); idle < r.cfg.Timeout {
				timer.Reset(r.cfg.Timeout - idle)
				continue
			}
			return s.abort(s.timeoutError())
		case <-ctx.Done():
			return s.abort(&OpError{Kind: ErrCanceled, Peer: -1, Detail: "context ended", Err: ctx.Err()})
		}
	}
}

// handle applies a batch of messages, then acknowledges the pieces consumed.
func (s *opState) handle(msgs []message) error {
	for _, m := range msgs {
		if err := s.apply(m); err != nil {
			return err
		}
	}
	if s.received > s.ackedReported {
		s.ackedReported = s.received
		pred := mod(s.r.cfg.Rank-1, s.n)
		subj := ackSubject(s.r.cfg.Job, s.r.cfg.Generation, s.seq, pred, s.received)
		if err := s.r.t.publish(subj, nil); err != nil {
			return &OpError{Kind: ErrTransport, Peer: pred, Detail: "publish ack", Err: err}
		}
	}
	return nil
}

func (s *opState) apply(m message) error {
	h := m.h
	switch {
	case h.seq < s.seq:
		return nil // late message of a finished operation
	case h.seq > s.seq+1 || (h.seq == s.seq+1 && h.ack):
		return &OpError{Kind: ErrMismatch, Peer: -1,
			Detail: fmt.Sprintf("received a message of operation %d during operation %d", h.seq, s.seq)}
	case h.seq == s.seq+1:
		// The predecessor finished this operation and started the next one.
		s.r.stash = append(s.r.stash, m)
		return nil
	}
	if h.ack {
		if h.piece > s.sent {
			return &OpError{Kind: ErrMismatch, Peer: mod(s.r.cfg.Rank+1, s.n),
				Detail: fmt.Sprintf("successor acknowledged %d pieces, only %d were sent", h.piece, s.sent)}
		}
		if h.piece > s.acked {
			s.acked = h.piece
			s.lastProgress = time.Now()
		}
		return nil
	}
	pred := mod(s.r.cfg.Rank-1, s.n)
	if h.length != s.lay.total {
		return &OpError{Kind: ErrMismatch, Peer: pred,
			Detail: fmt.Sprintf("rank %d reduces %d elements, this rank %d", pred, h.length, s.lay.total)}
	}
	if h.step < 0 || h.step >= s.steps || h.piece < 0 || h.piece >= len(s.recvDone[h.step]) {
		return &OpError{Kind: ErrMismatch, Peer: pred, Detail: fmt.Sprintf("piece %d of step %d is out of range", h.piece, h.step)}
	}
	if s.recvDone[h.step][h.piece] {
		return &OpError{Kind: ErrMismatch, Peer: pred, Detail: fmt.Sprintf("piece %d of step %d arrived twice", h.piece, h.step)}
	}
	c := s.recvChunk(h.step)
	a, b := s.lay.pieceRange(c, h.piece)
	w := s.r.cfg.Wire
	if len(m.data) != (b-a)*w.elemBytes() {
		return &OpError{Kind: ErrMismatch, Peer: pred,
			Detail: fmt.Sprintf("piece %d of step %d has %d bytes, want %d", h.piece, h.step, len(m.data), (b-a)*w.elemBytes())}
	}
	reduceScatter := h.step < s.n-1
	s.v.each(a, b, func(seg []float32, off int) {
		decodeParallel(w, seg, m.data[off*w.elemBytes():], reduceScatter)
	})
	if h.step == s.n-2 {
		// This rank now owns the fully reduced piece: finish it once, here, so every
		// rank ends with exactly these values.
		s.v.each(a, b, func(seg []float32, _ int) { s.finish(seg) })
	}
	s.recvDone[h.step][h.piece] = true
	s.received++
	s.lastProgress = time.Now()
	return nil
}

// finish applies Mean's division and the wire rounding to a fully reduced segment.
func (s *opState) finish(seg []float32) {
	if s.op == Mean {
		n := float32(s.n)
		for i := range seg {
			seg[i] /= n
		}
	}
	if s.r.cfg.Wire == WireBF16 {
		roundBF16(seg)
	}
}

// readyToSend advances past empty steps and says whether the next piece may go now.
func (s *opState) readyToSend() bool {
	for s.sendStep < s.steps && s.sendPiece >= s.lay.pieces(s.sendChunk(s.sendStep)) {
		s.sendStep, s.sendPiece = s.sendStep+1, 0
	}
	if s.sendStep == s.steps || s.sent-s.acked >= s.r.credits {
		return false
	}
	return s.sendStep == 0 || s.recvDone[s.sendStep-1][s.sendPiece]
}

func (s *opState) sendNext() error {
	r := s.r
	c := s.sendChunk(s.sendStep)
	a, b := s.lay.pieceRange(c, s.sendPiece)
	var payload []byte
	if seg, ok := s.v.contiguous(a, b); ok && r.cfg.Wire == WireF32 && littleEndian {
		payload = float32Bytes(seg) // the client copies it before Publish returns
	} else {
		eb := r.cfg.Wire.elemBytes()
		payload = r.sendBuf[:(b-a)*eb]
		s.v.each(a, b, func(seg []float32, off int) { encodeParallel(r.cfg.Wire, payload[off*eb:], seg) })
	}
	succ := mod(r.cfg.Rank+1, s.n)
	subj := dataSubject(r.cfg.Job, r.cfg.Generation, s.seq, succ, s.sendStep, s.sendPiece, s.lay.total)
	if err := r.t.publish(subj, payload); err != nil {
		return &OpError{Kind: ErrTransport, Peer: succ, Detail: fmt.Sprintf("publish piece %d of step %d", s.sendPiece, s.sendStep), Err: err}
	}
	s.sent++
	s.sendPiece++
	return nil
}

func (s *opState) timeoutError() *OpError {
	r := s.r
	pred, succ := mod(r.cfg.Rank-1, s.n), mod(r.cfg.Rank+1, s.n)
	var detail string
	peer := pred
	if s.received < s.toRecv {
		detail = fmt.Sprintf("no piece from rank %d for %s (%d of %d received)", pred, r.cfg.Timeout, s.received, s.toRecv)
	} else {
		peer = succ
		detail = fmt.Sprintf("no ack from rank %d for %s (%d of %d acknowledged)", succ, r.cfg.Timeout, s.acked, s.toSend)
	}
	for _, sub := range r.subs {
		if d := sub.dropped(); d > 0 {
			detail += fmt.Sprintf("; this rank's subscription dropped %d messages (slow consumer)", d)
		}
	}
	return &OpError{Kind: ErrTimeout, Peer: peer, Detail: detail}
}

// abort records a locally detected failure, tells the other ranks so they fail now
// instead of at their own timeout, and returns the ring's failure.
func (s *opState) abort(err error) error {
	var e *OpError
	if !errors.As(err, &e) {
		e = &OpError{Kind: ErrMismatch, Peer: -1, Detail: "unexpected", Err: err}
	}
	e.Seq = s.seq
	f := s.r.fail(e)
	if f == e && e.Kind != ErrGenerationChanged && e.Kind != ErrClosed {
		if perr := s.r.sendControl(control{Kind: "abort", Seq: s.seq, Reason: kindName(e.Kind), Detail: e.Error()}); perr != nil {
			s.r.log.Warn("could not announce abort", "err", perr)
		}
	}
	return f
}
