package allreduce

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"math"
	"sync"
	"sync/atomic"
	"time"

	"github.com/nats-io/nats.go"

	"github.com/latexblend/latexblend/devcluster"
)

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
