package main

import (
	"context"
	"fmt"
	"path/filepath"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
	"github.com/spf13/cobra"

	"github.com/latexblend/latexblend/blend"
	"github.com/latexblend/latexblend/internal/devstack"
	"github.com/latexblend/latexblend/internal/golden"
	"github.com/latexblend/latexblend/model/sdxl"
	pb "github.com/latexblend/latexblend/proto/latexblend/v1"
	"github.com/latexblend/latexblend/sampler"
	"github.com/latexblend/latexblend/service"
	"github.com/latexblend/latexblend/trainer"
)

func init() { benchSubcommands = append(benchSubcommands, newBenchSamplerCmd) }

func newBenchSamplerCmd() *cobra.Command {
	var (
		cfg      sampler.BenchConfig
		model    string
		concepts int
	)
	cmd := &cobra.Command{
		Use:   "sampler [--model DIR]",
		Short: "Time the sampler's mixed-concept batching and concept loads from the bank",
		Long: `Loads the base model (default: the tiny SDXL of ../shared/golden), starts an in-process
dev stack (etcd, NATS, a coordinator), puts --concepts synthetic concept entries into the
bank through ImportConcept, and then:

  - runs --requests requests (each its own concept set: one or two concepts over four
    prompts) one at a time, then in UNet batches of each --batches size, reporting
    images/s (the best of --reps runs after an untimed run that compiles the graphs);
  - times --load-samples cold loads of a concept from the bank (etcd record, Object
    Store fetch, digest check, decode), reporting p50 and p99.

The last line is key=value: requests steps size seq_ips ips_bN speedup_bN (batched
images/s ÷ one-at-a-time images/s) load_p50_ms load_p99_ms.`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			ctx := cmd.Context()
			if ctx == nil {
				ctx = context.Background()
			}
			if model == "" {
				dir, ok := golden.Find()
				if !ok {
					return fmt.Errorf("bench sampler: --model DIR is required (the golden tiny-sdxl was not found)")
				}
				model = filepath.Join(dir, "tiny-sdxl")
			}
			p, err := sdxl.Load(model, sdxl.LoadOptions{})
			if err != nil {
				return fmt.Errorf("bench sampler: --model %s: %w", model, err)
			}
			defer p.Close()
			res, err := benchSampler(ctx, cmd, p, concepts, cfg)
			if err != nil {
				return err
			}
			fmt.Fprintln(cmd.OutOrStdout(), res.Line())
			return nil
		},
	}
	f := cmd.Flags()
	f.StringVar(&model, "model", "", "base model folder (default: ../shared/golden/tiny-sdxl)")
	f.IntVar(&concepts, "concepts", 8, "synthetic concepts put in the bank")
	f.IntVar(&cfg.Requests, "requests", 8, "requests per measurement")
	f.IntSliceVar(&cfg.Batches, "batches", []int{1, 4, 8}, "UNet batch sizes (requests per batch)")
	f.IntVar(&cfg.Steps, "steps", 2, "denoising steps per request")
	f.IntVar(&cfg.Size, "size", 0, "image side in pixels (default: half the model's, 32 for the tiny model)")
	f.IntVar(&cfg.Reps, "reps", 2, "timed runs per measurement; the best counts")
	f.IntVar(&cfg.LoadSamples, "load-samples", 40, "cold concept loads timed")
	return cmd
}

// benchSampler fills a dev stack's bank with synthetic concepts and runs the benchmark.
func benchSampler(ctx context.Context, cmd *cobra.Command, p *sdxl.Pipeline, n int, cfg sampler.BenchConfig) (*sampler.BenchResult, error) {
	if n < 1 {
		return nil, fmt.Errorf("bench sampler: --concepts %d: need at least 1", n)
	}
	// One idle sampler registers the model identity that the coordinator checks
	// imported entries against.
	st, err := devstack.Start(ctx, devstack.Config{Samplers: 1, NoAuth: true, Version: buildVersion(), Sampler: sampler.ServiceConfig{Pipeline: p}})
	if err != nil {
		return nil, err
	}
	defer st.Close()
	conn, err := service.Dial(st.Coordinator.Addr(), service.ClientConfig{})
	if err != nil {
		return nil, err
	}
	defer conn.Close()
	api := pb.NewCoordinatorClient(conn)
	nouns := []string{"dog", "sunglasses", "cat", "vase"}
	for i := range n {
		noun := nouns[i%len(nouns)]
		e, err := sampler.SyntheticEntry(p, noun, uint64(i+1))
		if err != nil {
			return nil, err
		}
		b, err := blend.EncodeEntry(e)
		if err != nil {
			return nil, err
		}
		name := fmt.Sprintf("bench-%s-%d", noun, i)
		if _, err := importConcept(ctx, api, name, false, b); err != nil {
			return nil, fmt.Errorf("bench sampler: import %s: %w", name, err)
		}
		cfg.Concepts = append(cfg.Concepts, sampler.BenchConcept{Name: name, ClassNoun: noun})
	}
	cli, err := service.NewEtcdClient(ctx, st.Cluster.EtcdEndpoints, 5*time.Second)
	if err != nil {
		return nil, err
	}
	defer cli.Close()
	nc, err := nats.Connect(st.Cluster.NATSURL())
	if err != nil {
		return nil, err
	}
	defer nc.Close()
	js, err := jetstream.New(nc)
	if err != nil {
		return nil, err
	}
	if cfg.Store, err = js.ObjectStore(ctx, trainer.BucketConcepts); err != nil {
		return nil, fmt.Errorf("bench sampler: bucket %s: %w", trainer.BucketConcepts, err)
	}
	cfg.Pipeline, cfg.Etcd, cfg.Progress = p, cli, cmd.ErrOrStderr()
	return sampler.RunBench(ctx, cfg)
}
