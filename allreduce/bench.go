package allreduce

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"math"
	"sync"
	"sync/atomic"
	"time"

	"github.com/nats-io/nats.go"

	"github.com/latexblend/latexblend/devcluster"
)

// BenchConfig describes one `latexblend bench allreduce` run.
type BenchConfig struct {
	// Ranks is the ring size N.
	Ranks int
	// Bytes is S, the float32 vector size each rank reduces (a multiple of 4).
	Bytes int64
	// Servers is how many embedded nats-servers (one NATS cluster) carry the ring;
	// rank i connects to server i mod Servers (default 1).
	Servers int
	// Wire is the ring's wire format.
	Wire Wire
	// Reps is how many timed repetitions of each measurement to run; the best counts
	// (default 5).
	Reps int
	// PieceBytes, WindowBytes and Timeout configure the ring (0: package defaults).
	PieceBytes, WindowBytes int
	Timeout                 time.Duration
	// Progress receives one line per repetition (nil: discard).
	Progress io.Writer
	// Logger receives cluster and ring events (nil: discard).
	Logger *slog.Logger
}

// BenchResult is what a run measured. Times are the best of the repetitions.
type BenchResult struct {
	Ranks, Servers int
	Bytes          int64
	Wire           Wire
	// Seconds is the all-reduce time; RawSeconds the time plain NATS publish/subscribe
	// took to move the same per-rank traffic over the same connections, with no
	// reduction, acks or window.
	Seconds, RawSeconds float64
	// AlgBW = S/Seconds and BusBW = AlgBW*2(N-1)/N, in GB/s (1e9 bytes), as in nccl-tests.
	AlgBW, BusBW float64
	// Efficiency = RawSeconds/Seconds.
	Efficiency float64
	// MaxRelErr is the largest |result-reference|/|reference| over all elements, ranks
	// and repetitions, against a float64 sum.
	MaxRelErr float64
}

// Line is the machine-readable last line of the benchmark's output.
func (r BenchResult) Line() string {
	return fmt.Sprintf("ranks=%d bytes=%d servers=%d wire=%s seconds=%.6f algbw_GBps=%.4f busbw_GBps=%.4f raw_seconds=%.6f efficiency=%.3f max_rel_err=%.3e",
		r.Ranks, r.Bytes, r.Servers, r.Wire, r.Seconds, r.AlgBW, r.BusBW, r.RawSeconds, r.Efficiency, r.MaxRelErr)
}

func (c *BenchConfig) validate() error {
	if c.Servers == 0 {
		c.Servers = 1
	}
	if c.Reps == 0 {
		c.Reps = 5
	}
	if c.Progress == nil {
		c.Progress = io.Discard
	}
	if c.Logger == nil {
		c.Logger = slog.New(slog.DiscardHandler)
	}
	switch {
	case c.Ranks < 1:
		return fmt.Errorf("allreduce bench: ranks=%d must be >= 1", c.Ranks)
	case c.Bytes < 0 || c.Bytes%4 != 0:
		return fmt.Errorf("allreduce bench: bytes=%d must be a non-negative multiple of 4 (float32 elements)", c.Bytes)
	case c.Servers < 1:
		return fmt.Errorf("allreduce bench: servers=%d must be >= 1", c.Servers)
	case c.Reps < 1:
		return fmt.Errorf("allreduce bench: reps=%d must be >= 1", c.Reps)
	}
	return nil
}

// benchEnv is an embedded NATS (cluster), one connection per rank and a joined ring.
type benchEnv struct {
	cluster *devcluster.Cluster
	conns   []*nats.Conn
	rings   []*Ring
	slow    atomic.Int64 // slow-consumer errors reported to any connection
}

func startBenchEnv(ctx context.Context, ranks, servers int, ring Config, log *slog.Logger) (*benchEnv, error) {
	cluster, err := devcluster.Start(ctx, devcluster.Config{NATSServers: servers, NoEtcd: true, Logger: log})
	if err != nil {
		return nil, err
	}
	e := &benchEnv{cluster: cluster}
	for i := range ranks {
		nc, err := nats.Connect(cluster.NATSURLs[i%servers], nats.Name(fmt.Sprintf("allreduce-bench-%d", i)), nats.NoReconnect(),
			nats.ErrorHandler(func(_ *nats.Conn, _ *nats.Subscription, err error) {
				if errors.Is(err, nats.ErrSlowConsumer) {
					e.slow.Add(1)
				}
			}))
		if err != nil {
			e.close()
			return nil, fmt.Errorf("allreduce bench: connect rank %d: %w", i, err)
		}
		e.conns = append(e.conns, nc)
	}
	e.rings = make([]*Ring, ranks)
	errs := make([]error, ranks)
	var wg sync.WaitGroup
	for i := range ranks {
		wg.Go(func() {
			cfg := ring
			cfg.Rank, cfg.Size, cfg.Logger = i, ranks, log
			e.rings[i], errs[i] = Join(ctx, e.conns[i], cfg)
		})
	}
	wg.Wait()
	if err := errors.Join(errs...); err != nil {
		e.close()
		return nil, err
	}
	return e, nil
}

func (e *benchEnv) close() {
	for _, r := range e.rings {
		if r != nil {
			r.Close()
		}
	}
	for _, nc := range e.conns {
		nc.Close()
	}
	e.cluster.Close()
}

// slowConsumers totals every slow-consumer signal: client error handlers, messages the
// rings' subscriptions dropped, and the servers' varz counters.
func (e *benchEnv) slowConsumers() (int64, error) {
	n := e.slow.Load()
	for _, r := range e.rings {
		for _, s := range r.subs {
			n += int64(s.dropped())
		}
	}
	for i := range e.cluster.NATSURLs {
		v, err := e.cluster.NATSServer(i).Varz(nil)
		if err != nil {
			return 0, fmt.Errorf("allreduce bench: varz of server %d: %w", i, err)
		}
		n += v.SlowConsumers
	}
	return n, nil
}

// allReduceOnce runs one Sum on every ring at the same moment and returns the wall time
// from the common start to the last rank's return.
func (e *benchEnv) allReduceOnce(ctx context.Context, bufs [][]float32) (time.Duration, error) {
	errs := make([]error, len(e.rings))
	var wg sync.WaitGroup
	start := make(chan struct{})
	for i, r := range e.rings {
		wg.Go(func() {
			<-start
			errs[i] = r.AllReduce(ctx, Sum, bufs[i])
		})
	}
	t0 := time.Now()
	close(start)
	wg.Wait()
	return time.Since(t0), errors.Join(errs...)
}

// benchValue is rank r's input element i: in [0.5, 1.5) with a full mantissa, cheap to
// regenerate, positive so relative errors are meaningful.
func benchValue(r, i int) float32 {
	h := uint32(i)*2654435761 + uint32(r)*40503
	return 0.5 + float32(h>>8)/(1<<24)
}

func fillBench(bufs [][]float32) {
	var wg sync.WaitGroup
	for r, b := range bufs {
		wg.Go(func() {
			for i := range b {
				b[i] = benchValue(r, i)
			}
		})
	}
	wg.Wait()
}

// checkBench verifies that all ranks hold identical values and returns the largest
// relative error against the float64 reference sum.
func checkBench(bufs [][]float32) (float64, error) {
	worst := 0.0
	for i, x := range bufs[0] {
		ref := 0.0
		for r := range bufs {
			ref += float64(benchValue(r, i))
		}
		worst = max(worst, math.Abs(float64(x)-ref)/ref)
		for r := 1; r < len(bufs); r++ {
			if math.Float32bits(bufs[r][i]) != math.Float32bits(x) {
				return worst, fmt.Errorf("allreduce bench: element %d differs between rank 0 (%v) and rank %d (%v)", i, x, r, bufs[r][i])
			}
		}
	}
	return worst, nil
}

// relErrBound is the largest relative error the wire format allows for positive inputs.
func relErrBound(w Wire, ranks int) float64 {
	if w == WireBF16 {
		return BF16ErrorBound(ranks)
	}
	return float64(ranks) * 0x1p-24 * 1.01
}

// rawTraffic lists, per rank, the payload sizes the ring sends to its successor, in
// order, so the raw baseline moves exactly the same messages.
func rawTraffic(ranks int, elems int, pieceElems int, w Wire) [][]int {
	out := make([][]int, ranks)
	if ranks == 1 {
		return out
	}
	lay := layout{total: elems, size: ranks, piece: pieceElems}
	for r := range out {
		for step := range 2 * (ranks - 1) {
			c := mod(r-step, ranks)
			for j := range lay.pieces(c) {
				a, b := lay.pieceRange(c, j)
				out[r] = append(out[r], (b-a)*w.elemBytes())
			}
		}
	}
	return out
}

// rawOnce has every rank publish its ring traffic to its successor over plain NATS, as
// fast as the client allows, and returns the time until every byte has arrived.
func (e *benchEnv) rawOnce(ctx context.Context, rep int, traffic [][]int, payload []byte, timeout time.Duration) (time.Duration, error) {
	n := len(e.conns)
	subject := func(r int) string { return fmt.Sprintf("allreduce.rawbench.%d.%d", rep, r) }
	want := make([]int64, n)
	var receivers int64
	for r := range n {
		for _, b := range traffic[mod(r-1, n)] {
			want[r] += int64(b)
		}
		if want[r] > 0 {
			receivers++
		}
	}
	if receivers == 0 {
		return 0, nil
	}
	got := make([]atomic.Int64, n)
	probed := make([]atomic.Bool, n)
	var remaining atomic.Int64
	remaining.Store(receivers)
	arrived := make(chan struct{})
	var subs []*nats.Subscription
	defer func() {
		for _, s := range subs {
			s.Unsubscribe()
		}
	}()
	for r, nc := range e.conns {
		if want[r] == 0 {
			continue
		}
		sub, err := nc.Subscribe(subject(r), func(m *nats.Msg) {
			if len(m.Data) == 0 {
				probed[r].Store(true)
				return
			}
			if got[r].Add(int64(len(m.Data))) == want[r] && remaining.Add(-1) == 0 {
				close(arrived)
			}
		})
		if err != nil {
			return 0, fmt.Errorf("allreduce bench: raw subscribe: %w", err)
		}
		if err := sub.SetPendingLimits(-1, -1); err != nil {
			return 0, fmt.Errorf("allreduce bench: raw pending limits: %w", err)
		}
		subs = append(subs, sub)
	}
	// Subscription interest reaches the other servers of a NATS cluster asynchronously:
	// probe each link with empty messages until one arrives, so no data is published
	// into a server that does not yet know the receiver.
	deadline := time.Now().Add(timeout)
	for r, nc := range e.conns {
		succ := mod(r+1, n)
		for want[succ] > 0 && !probed[succ].Load() {
			if time.Now().After(deadline) {
				return 0, fmt.Errorf("allreduce bench: raw subscription of rank %d not visible after %s", succ, timeout)
			}
			if err := nc.Publish(subject(succ), nil); err != nil {
				return 0, fmt.Errorf("allreduce bench: raw probe: %w", err)
			}
			nc.Flush()
			time.Sleep(time.Millisecond)
		}
	}
	errs := make([]error, n)
	start := make(chan struct{})
	var wg sync.WaitGroup
	for r, nc := range e.conns {
		wg.Go(func() {
			<-start
			subj := subject(mod(r+1, n))
			for _, b := range traffic[r] {
				if err := nc.Publish(subj, payload[:b]); err != nil {
					errs[r] = err
					return
				}
			}
			errs[r] = nc.Flush()
		})
	}
	t0 := time.Now()
	close(start)
	wg.Wait()
	if err := errors.Join(errs...); err != nil {
		return 0, fmt.Errorf("allreduce bench: raw publish: %w", err)
	}
	select {
	case <-arrived:
		return time.Since(t0), nil
	case <-time.After(timeout):
		return 0, fmt.Errorf("allreduce bench: raw traffic incomplete after %s (messages lost)", timeout)
	case <-ctx.Done():
		return 0, ctx.Err()
	}
}

// RunBench starts an embedded NATS (cluster), joins a ring of cfg.Ranks ranks over
// separate connections and measures, alternating, the all-reduce of cfg.Bytes and the
// same per-rank traffic over plain publish/subscribe. Every all-reduce result is checked
// against a float64 reference; a slow-consumer event or an error beyond the wire
// format's bound fails the run.
func RunBench(ctx context.Context, cfg BenchConfig) (BenchResult, error) {
	if err := cfg.validate(); err != nil {
		return BenchResult{}, err
	}
	res := BenchResult{Ranks: cfg.Ranks, Servers: cfg.Servers, Bytes: cfg.Bytes, Wire: cfg.Wire}
	ring := Config{Job: "bench", Generation: 1, PieceBytes: cfg.PieceBytes, WindowBytes: cfg.WindowBytes, Timeout: cfg.Timeout, Wire: cfg.Wire}
	env, err := startBenchEnv(ctx, cfg.Ranks, cfg.Servers, ring, cfg.Logger)
	if err != nil {
		return res, err
	}
	defer env.close()
	timeout := env.rings[0].cfg.Timeout

	elems := int(cfg.Bytes / 4)
	bufs := make([][]float32, cfg.Ranks)
	for r := range bufs {
		bufs[r] = make([]float32, elems)
	}
	traffic := rawTraffic(cfg.Ranks, elems, env.rings[0].pieceElems, cfg.Wire)
	payload := make([]byte, env.rings[0].PieceBytes())
	bound := relErrBound(cfg.Wire, cfg.Ranks)

	best, bestRaw := math.Inf(1), math.Inf(1)
	for rep := range cfg.Reps {
		fillBench(bufs)
		took, err := env.allReduceOnce(ctx, bufs)
		if err != nil {
			return res, fmt.Errorf("allreduce bench: repetition %d: %w", rep+1, err)
		}
		relErr, err := checkBench(bufs)
		if err != nil {
			return res, err
		}
		if relErr > bound {
			return res, fmt.Errorf("allreduce bench: max relative error %.3e exceeds the %s bound %.3e", relErr, cfg.Wire, bound)
		}
		res.MaxRelErr = max(res.MaxRelErr, relErr)
		raw, err := env.rawOnce(ctx, rep, traffic, payload, timeout)
		if err != nil {
			if sc, scErr := env.slowConsumers(); scErr == nil && sc > 0 {
				err = fmt.Errorf("%w (%d slow-consumer events so far)", err, sc)
			}
			return res, err
		}
		best, bestRaw = min(best, took.Seconds()), min(bestRaw, raw.Seconds())
		fmt.Fprintf(cfg.Progress, "rep=%d allreduce_seconds=%.6f raw_seconds=%.6f\n", rep+1, took.Seconds(), raw.Seconds())
	}
	if sc, err := env.slowConsumers(); err != nil {
		return res, err
	} else if sc != 0 {
		return res, fmt.Errorf("allreduce bench: %d slow-consumer events (client errors, dropped messages or server varz)", sc)
	}
	res.Seconds, res.RawSeconds = best, bestRaw
	if best > 0 {
		res.AlgBW = float64(cfg.Bytes) / best / 1e9
		res.Efficiency = bestRaw / best
	}
	res.BusBW = res.AlgBW * 2 * float64(cfg.Ranks-1) / float64(cfg.Ranks)
	return res, nil
}
