package sampler

import (
	"context"
	"fmt"
	"io"
	"slices"
	"time"

	"github.com/nats-io/nats.go/jetstream"
	clientv3 "go.etcd.io/etcd/client/v3"
	"google.golang.org/protobuf/proto"

	"github.com/latexblend/latexblend/model/sdxl"
	pb "github.com/latexblend/latexblend/proto/latexblend/v1"
)

// BenchConcept is a concept in the bank the benchmark may use.
type BenchConcept struct{ Name, ClassNoun string }

// BenchConfig configures RunBench.
type BenchConfig struct {
	Pipeline *sdxl.Pipeline
	// Etcd and Store reach the bank that holds Concepts.
	Etcd     *clientv3.Client
	Store    jetstream.ObjectStore
	Concepts []BenchConcept
	// Requests is the number of requests per measurement (default 8); Batches the batch
	// sizes measured (default 1, 4, 8); Steps and Size the denoising steps (default 2)
	// and image side (default: half the model's, 32 px for the tiny model); Reps the
	// repetitions, best kept (default 2).
	Requests int
	Batches  []int
	Steps    int
	Size     int
	Reps     int
	// LoadSamples is the number of cold concept loads timed (default 40).
	LoadSamples int
	// Progress receives one line per measurement (nil: none).
	Progress io.Writer
}

// BenchResult holds images/s per batch size, one-at-a-time images/s of the same
// requests, and cold concept load latency from the bank.
type BenchResult struct {
	Batches    []int
	Batched    map[int]float64 // images/s
	Sequential float64         // images/s
	LoadP50    time.Duration
	LoadP99    time.Duration
	Steps      int
	Size       int
	Requests   int
}

// Line is the benchmark's key=value summary.
func (r *BenchResult) Line() string {
	s := fmt.Sprintf("requests=%d steps=%d size=%d seq_ips=%.3f", r.Requests, r.Steps, r.Size, r.Sequential)
	for _, b := range r.Batches {
		s += fmt.Sprintf(" ips_b%d=%.3f speedup_b%d=%.3f", b, r.Batched[b], b, r.Batched[b]/r.Sequential)
	}
	return s + fmt.Sprintf(" load_p50_ms=%.3f load_p99_ms=%.3f", ms(r.LoadP50), ms(r.LoadP99))
}

func ms(d time.Duration) float64 { return float64(d) / float64(time.Millisecond) }

// benchPrompts pair a prompt with one or two class nouns; concepts are dealt to them
// round-robin so that every request has its own concept set.
var benchPrompts = []struct {
	prompt string
	nouns  []string
}{
	{"a dog wearing a sunglasses", []string{"dog", "sunglasses"}},
	{"a cat on a beach", []string{"cat"}},
	{"a dog in the snow", []string{"dog"}},
	{"a cat next to a vase", []string{"cat", "vase"}},
}

// RunBench measures the batching engine on mixed-concept requests: for each batch size
// b, the Requests requests run in batches of b (one UNet batch per step); the same
// requests one at a time give the baseline. Graph compilation is excluded by a warm-up
// run of each batch size. Then it times cold loads of the concepts from the bank.
func RunBench(ctx context.Context, cfg BenchConfig) (*BenchResult, error) {
	if cfg.Requests <= 0 {
		cfg.Requests = 8
	}
	if len(cfg.Batches) == 0 {
		cfg.Batches = []int{1, 4, 8}
	}
	if cfg.Steps <= 0 {
		cfg.Steps = 2
	}
	if cfg.Size <= 0 {
		_, w := cfg.Pipeline.DefaultSize()
		m := cfg.Pipeline.SizeMultiple()
		cfg.Size = max(m, w/2/m*m)
	}
	if cfg.Reps <= 0 {
		cfg.Reps = 2
	}
	if cfg.LoadSamples <= 0 {
		cfg.LoadSamples = 40
	}
	if cfg.Progress == nil {
		cfg.Progress = io.Discard
	}
	byNoun := map[string][]string{}
	for _, c := range cfg.Concepts {
		byNoun[c.ClassNoun] = append(byNoun[c.ClassNoun], c.Name)
	}
	cache := NewConceptCache(CacheConfig{Etcd: cfg.Etcd, Store: cfg.Store, Identity: cfg.Pipeline.Identity, MaxBytes: 1 << 40})
	plans := make([]*plan, cfg.Requests)
	used := map[string]int{}
	for i := range plans {
		bp := benchPrompts[i%len(benchPrompts)]
		req := &pb.GenerateRequest{Prompt: bp.prompt, Steps: int32(cfg.Steps), Width: int32(cfg.Size), Height: int32(cfg.Size), Seed: proto.Uint64(uint64(i))}
		var cs []*cachedConcept
		for _, noun := range bp.nouns {
			names := byNoun[noun]
			if len(names) == 0 {
				return nil, fmt.Errorf("sampler bench: no concept for class noun %q in the bank", noun)
			}
			name := names[used[noun]%len(names)]
			used[noun]++
			c, _, err := cache.get(ctx, name)
			if err != nil {
				return nil, err
			}
			req.Concepts = append(req.Concepts, &pb.ConceptBinding{ClassNoun: noun, Concept: name})
			cs = append(cs, c)
		}
		pl, err := planRequest(cfg.Pipeline, req, cs)
		if err != nil {
			return nil, fmt.Errorf("sampler bench: request %d: %w", i, err)
		}
		plans[i] = pl
	}
	e := newEngine(cfg.Pipeline, nil)
	timeRuns := func(b int) (float64, error) {
		best := 0.0
		for rep := 0; rep <= cfg.Reps; rep++ { // rep 0 warms up (compiles the graphs)
			start := time.Now()
			for at := 0; at < len(plans); at += b {
				var runs []*run
				for _, pl := range plans[at:min(at+b, len(plans))] {
					runs = append(runs, &run{plan: pl, ctx: ctx})
				}
				e.runBatch(ctx, runs)
				for _, r := range runs {
					if r.err != nil {
						return 0, r.err
					}
				}
			}
			if rep > 0 {
				best = max(best, float64(len(plans))/time.Since(start).Seconds())
			}
		}
		return best, nil
	}
	res := &BenchResult{Batches: cfg.Batches, Batched: map[int]float64{}, Steps: cfg.Steps, Size: cfg.Size, Requests: cfg.Requests}
	var err error
	if res.Sequential, err = timeRuns(1); err != nil {
		return nil, err
	}
	fmt.Fprintf(cfg.Progress, "one at a time: %.3f images/s\n", res.Sequential)
	for _, b := range cfg.Batches {
		if b == 1 {
			res.Batched[b] = res.Sequential
			continue
		}
		if res.Batched[b], err = timeRuns(b); err != nil {
			return nil, err
		}
		fmt.Fprintf(cfg.Progress, "batch %d: %.3f images/s (%.2fx)\n", b, res.Batched[b], res.Batched[b]/res.Sequential)
	}
	var lat []time.Duration
	for i := 0; i < cfg.LoadSamples; i++ {
		c := cfg.Concepts[i%len(cfg.Concepts)]
		cold := NewConceptCache(CacheConfig{Etcd: cfg.Etcd, Store: cfg.Store, Identity: cfg.Pipeline.Identity, MaxBytes: 1 << 40})
		start := time.Now()
		if _, _, err := cold.get(ctx, c.Name); err != nil {
			return nil, err
		}
		lat = append(lat, time.Since(start))
	}
	slices.Sort(lat)
	res.LoadP50 = lat[len(lat)/2]
	res.LoadP99 = lat[min(len(lat)-1, (len(lat)*99+99)/100-1)]
	fmt.Fprintf(cfg.Progress, "concept load from the bank: p50 %.2f ms, p99 %.2f ms over %d loads\n", ms(res.LoadP50), ms(res.LoadP99), len(lat))
	return res, nil
}
