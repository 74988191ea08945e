package allreduce

import (
	"context"
	"errors"
	"math/rand/v2"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/nats-io/nats.go"
	"go.uber.org/goleak"

	"github.com/latexblend/latexblend/devcluster"
)

func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

// natsEnv is an embedded NATS plus one connection per rank; slow-consumer events seen by
// any connection's error handler are counted.
type natsEnv struct {
	cluster *devcluster.Cluster
	conns   []*nats.Conn
	slow    atomic.Int64
}

func newEnv(t *testing.T, ranks int, cfg devcluster.Config) *natsEnv {
	t.Helper()
	cfg.NoEtcd = true
	c, err := devcluster.Start(t.Context(), cfg)
	if err != nil {
		t.Fatalf("devcluster: %v", err)
	}
	env := &natsEnv{cluster: c}
	t.Cleanup(func() {
		for _, nc := range env.conns {
			nc.Close()
		}
		c.Close()
	})
	for i := range ranks {
		nc, err := nats.Connect(c.NATSURLs[i%len(c.NATSURLs)], nats.NoReconnect(),
			nats.ErrorHandler(func(_ *nats.Conn, _ *nats.Subscription, err error) {
				if errors.Is(err, nats.ErrSlowConsumer) {
					env.slow.Add(1)
				}
			}))
		if err != nil {
			t.Fatalf("connect rank %d: %v", i, err)
		}
		env.conns = append(env.conns, nc)
	}
	return env
}

// serverSlowConsumers sums the servers' slow-consumer counters.
func (e *natsEnv) serverSlowConsumers(t *testing.T) int64 {
	t.Helper()
	var n int64
	for i := range e.cluster.NATSURLs {
		v, err := e.cluster.NATSServer(i).Varz(nil)
		if err != nil {
			t.Fatalf("varz: %v", err)
		}
		n += v.SlowConsumers
	}
	return n
}

// join makes every rank join concurrently (Join waits for all of them). wrap, if not
// nil, replaces a rank's transport (fault injection).
func (e *natsEnv) join(t *testing.T, base Config, wrap func(rank int, tr transport) transport) []*Ring {
	t.Helper()
	n := len(e.conns)
	rings := make([]*Ring, n)
	errs := make([]error, n)
	ctx, cancel := context.WithTimeout(t.Context(), 20*time.Second)
	defer cancel()
	var wg sync.WaitGroup
	for i := range n {
		wg.Go(func() {
			cfg := base
			cfg.Rank, cfg.Size = i, n
			var tr transport = natsTransport{e.conns[i]}
			if wrap != nil {
				tr = wrap(i, tr)
			}
			rings[i], errs[i] = join(ctx, tr, cfg)
		})
	}
	wg.Wait()
	for i, err := range errs {
		if err != nil {
			t.Fatalf("rank %d join: %v", i, err)
		}
	}
	all := append([]*Ring(nil), rings...) // tests may nil out entries of rings
	t.Cleanup(func() {
		for _, r := range all {
			r.Close()
		}
	})
	return rings
}

// allReduce runs one operation on every ring concurrently; bufs[rank] are that rank's
// buffers. It returns each rank's error and how long each call took.
func allReduce(ctx context.Context, rings []*Ring, op Op, bufs [][][]float32) ([]error, []time.Duration) {
	errs := make([]error, len(rings))
	took := make([]time.Duration, len(rings))
	var wg sync.WaitGroup
	for i, r := range rings {
		if r == nil {
			continue
		}
		wg.Go(func() {
			start := time.Now()
			errs[i] = r.AllReduce(ctx, op, bufs[i]...)
			took[i] = time.Since(start)
		})
	}
	wg.Wait()
	return errs, took
}

// randomInputs gives each rank the same buffer shapes (lens) with random values in
// [-1, 1).
func randomInputs(rng *rand.Rand, ranks int, lens []int) [][][]float32 {
	out := make([][][]float32, ranks)
	for r := range out {
		for _, l := range lens {
			b := make([]float32, l)
			for i := range b {
				b[i] = rng.Float32()*2 - 1
			}
			out[r] = append(out[r], b)
		}
	}
	return out
}

// flatten concatenates one rank's buffers.
func flatten(bufs [][]float32) []float32 {
	var out []float32
	for _, b := range bufs {
		out = append(out, b...)
	}
	return out
}

// reference is the float64 sum over ranks and the sum of absolute values (for error
// bounds) of each fused element.
func reference(inputs [][][]float32) (sum, abs []float64) {
	for _, bufs := range inputs {
		f := flatten(bufs)
		if sum == nil {
			sum, abs = make([]float64, len(f)), make([]float64, len(f))
		}
		for i, x := range f {
			sum[i] += float64(x)
			abs[i] += float64(max(x, -x))
		}
	}
	return sum, abs
}

func clone(in [][][]float32) [][][]float32 {
	out := make([][][]float32, len(in))
	for r, bufs := range in {
		for _, b := range bufs {
			out[r] = append(out[r], append([]float32(nil), b...))
		}
	}
	return out
}

// faultTransport wraps a rank's transport: onPublish sees each data publish (numbered
// from 1) and may drop it or fail it.
type faultTransport struct {
	transport
	n         atomic.Int64
	onPublish func(n int64, subject string) (drop bool, err error)
}

func (f *faultTransport) publish(subject string, data []byte) error {
	if h, err := parseSubject(subject); err == nil && !h.ack {
		drop, err := f.onPublish(f.n.Add(1), subject)
		if err != nil {
			return err
		}
		if drop {
			return nil
		}
	}
	return f.transport.publish(subject, data)
}
