package sampler_test

import (
	"context"
	"errors"
	"io"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/metadata"
	"google.golang.org/grpc/status"
	"google.golang.org/protobuf/proto"

	"github.com/latexblend/latexblend/internal/devstack"
	"github.com/latexblend/latexblend/model/sdxl"
	pb "github.com/latexblend/latexblend/proto/latexblend/v1"
	"github.com/latexblend/latexblend/sampler"
	"github.com/latexblend/latexblend/service"
	"github.com/latexblend/latexblend/trainer"
)

// fleet is a dev stack with one coordinator and two samplers sharing the tiny model.
type fleet struct {
	t      *testing.T
	st     *devstack.Stack
	p      *sdxl.Pipeline
	coord  pb.CoordinatorClient
	router *sampler.Router
	conns  []*grpc.ClientConn
}

func startFleet(t *testing.T, ctx context.Context) *fleet {
	t.Helper()
	p := sampler.LoadTinyForTest(t)
	st, err := devstack.Start(ctx, devstack.Config{Samplers: 2, Version: "test", MemberTTL: 2 * time.Second,
		Sampler: sampler.ServiceConfig{Pipeline: p, PublishInterval: 10 * time.Millisecond, MaxWait: 300 * time.Millisecond}})
	if err != nil {
		t.Fatal(err)
	}
	f := &fleet{t: t, st: st, p: p}
	t.Cleanup(func() {
		f.router.Close()
		for _, c := range f.conns {
			c.Close()
		}
		st.Close()
	})
	conn, err := service.Dial(st.Coordinator.Addr(), service.ClientConfig{Token: st.Token})
	if err != nil {
		t.Fatal(err)
	}
	f.conns = append(f.conns, conn)
	f.coord = pb.NewCoordinatorClient(conn)
	cli, err := service.NewEtcdClient(ctx, st.Cluster.EtcdEndpoints, 5*time.Second)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { cli.Close() })
	if f.router, err = sampler.NewRouter(sampler.RouterConfig{Etcd: cli, Client: service.ClientConfig{Token: st.Token}}); err != nil {
		t.Fatal(err)
	}
	return f
}

// importConcept puts a made-up entry for noun into the bank through the coordinator's
// ImportConcept RPC.
func (f *fleet) importConcept(ctx context.Context, name, noun string, seed uint64, replace bool) *pb.Concept {
	f.t.Helper()
	b := sampler.EntryBytesForTest(f.t, sampler.RandomEntryForTest(f.t, f.p, noun, seed))
	s, err := f.coord.ImportConcept(ctx)
	if err != nil {
		f.t.Fatal(err)
	}
	hdr := &pb.ImportConceptHeader{Name: name, Replace: replace, SizeBytes: int64(len(b)), Digest: trainer.Digest(b)}
	for off := 0; off < len(b) || off == 0; off += pb.ChunkBytes {
		if off == 0 {
			if err := s.Send(&pb.ImportConceptRequest{Payload: &pb.ImportConceptRequest_Header{Header: hdr}}); err != nil {
				f.t.Fatal(err)
			}
		}
		end := min(off+pb.ChunkBytes, len(b))
		ch := &pb.DataChunk{Offset: int64(off), Data: b[off:end], Last: end == len(b)}
		if err := s.Send(&pb.ImportConceptRequest{Payload: &pb.ImportConceptRequest_Chunk{Chunk: ch}}); err != nil && !errors.Is(err, io.EOF) {
			f.t.Fatal(err)
		}
	}
	r, err := s.CloseAndRecv()
	if err != nil {
		f.t.Fatalf("import %s: %v", name, err)
	}
	return r.GetConcept()
}

// direct calls one sampler node, bypassing the router.
func (f *fleet) direct(i int) pb.SamplerClient {
	f.t.Helper()
	conn, err := service.Dial(f.st.Samplers[i].Addr(), service.ClientConfig{Token: f.st.Token})
	if err != nil {
		f.t.Fatal(err)
	}
	f.conns = append(f.conns, conn)
	return pb.NewSamplerClient(conn)
}

// generate runs req on a client to the end and returns the Done, or the error.
func generate(ctx context.Context, c pb.SamplerClient, req *pb.GenerateRequest, trailer *metadata.MD) (*pb.Done, int, error) {
	var opts []grpc.CallOption
	if trailer != nil {
		opts = append(opts, grpc.Trailer(trailer))
	}
	s, err := c.Generate(ctx, req, opts...)
	if err != nil {
		return nil, 0, err
	}
	steps := 0
	for {
		m, err := s.Recv()
		if err != nil {
			return nil, steps, err
		}
		if p := m.GetProgress(); p.GetPhase() == pb.Phase_PHASE_DENOISING {
			steps++
		}
		if d := m.GetDone(); d != nil {
			return d, steps, nil
		}
	}
}

func small(prompt string, concepts ...*pb.ConceptBinding) *pb.GenerateRequest {
	return &pb.GenerateRequest{Prompt: prompt, Concepts: concepts, Steps: 2, Width: 32, Height: 32, Seed: proto.Uint64(9)}
}

func counter(t *testing.T, reg *prometheus.Registry, name string) float64 {
	t.Helper()
	mfs, err := reg.Gather()
	if err != nil {
		t.Fatal(err)
	}
	for _, mf := range mfs {
		if mf.GetName() == name {
			m := mf.GetMetric()[0]
			if c := m.GetCounter(); c != nil {
				return c.GetValue()
			}
			if g := m.GetGauge(); g != nil {
				return g.GetValue()
			}
			return float64(m.GetHistogram().GetSampleCount())
		}
	}
	t.Fatalf("metric %s is not registered", name)
	return 0
}

func waitFor(t *testing.T, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
		time.Sleep(10 * time.Millisecond)
	}
}

// TestFleet covers the sampler fleet on one dev stack: cache miss then hit, routing to
// the warm node, invalidation on replace and delete, and request errors.
func TestFleet(t *testing.T) {
	ctx, cancel := context.WithTimeout(t.Context(), 90*time.Second)
	defer cancel()
	f := startFleet(t, ctx)
	f.importConcept(ctx, "rex", "dog", 1, false)
	f.importConcept(ctx, "shades", "sunglasses", 2, false)
	a := f.st.Samplers[0]
	reg := a.Node().GRPC.Registry
	req := small("a dog wearing a sunglasses", &pb.ConceptBinding{ClassNoun: "dog", Concept: "rex"}, &pb.ConceptBinding{ClassNoun: "sunglasses", Concept: "shades"})

	t.Run("cache miss then hit", func(t *testing.T) {
		done, steps, err := generate(ctx, f.direct(0), req, nil)
		if err != nil {
			t.Fatal(err)
		}
		if steps != 2 || len(done.Concepts) != 2 || !strings.HasPrefix(done.Concepts[0].Digest, "sha256:") || done.Mode != "replace" {
			t.Fatalf("done = %v after %d step events", done, steps)
		}
		if m, h := counter(t, reg, "latexblend_sampler_concept_cache_misses_total"), counter(t, reg, "latexblend_sampler_concept_cache_hits_total"); m != 2 || h != 0 {
			t.Fatalf("after the first request: misses %v hits %v, want 2 and 0", m, h)
		}
		if _, _, err := generate(ctx, f.direct(0), req, nil); err != nil {
			t.Fatal(err)
		}
		if m, h := counter(t, reg, "latexblend_sampler_concept_cache_misses_total"), counter(t, reg, "latexblend_sampler_concept_cache_hits_total"); m != 2 || h != 2 {
			t.Fatalf("after the second request: misses %v hits %v, want 2 and 2", m, h)
		}
		if got := counter(t, reg, "latexblend_sampler_concept_load_seconds"); got != 2 {
			t.Fatalf("load latency observations = %v, want 2", got)
		}
		if b := counter(t, reg, "latexblend_sampler_concept_cache_bytes"); b <= 0 || int64(b) != a.Cache().Bytes() {
			t.Fatalf("cache bytes gauge %v, cache holds %d", b, a.Cache().Bytes())
		}
	})

	t.Run("routing prefers the warm node", func(t *testing.T) {
		waitFor(t, "sampler 0 to publish its cached concepts", func() bool {
			c, err := f.router.Candidates(ctx, req)
			return err == nil && len(c) == 2 && c[0].ID == a.ID() && c[0].Warm == 2 && c[1].Warm == 0
		})
		for range 2 {
			res, err := f.router.Generate(ctx, req, nil)
			if err != nil {
				t.Fatal(err)
			}
			if res.Done.SamplerId != a.ID() || len(res.Images) != 1 {
				t.Fatalf("routed to %s with %d images, want the warm sampler %s", res.Done.SamplerId, len(res.Images), a.ID())
			}
			if _, err := sdxl.ReadPNGText(strings.NewReader(string(res.Images[0]))); err != nil {
				t.Fatalf("image is not a PNG with text: %v", err)
			}
		}
		if m := counter(t, f.st.Samplers[1].Node().GRPC.Registry, "latexblend_sampler_concept_cache_misses_total"); m != 0 {
			t.Fatalf("the cold sampler loaded %v concepts", m)
		}
	})

	t.Run("replace and delete invalidate", func(t *testing.T) {
		old := a.Cache().Names()
		if len(old) != 2 {
			t.Fatalf("cache holds %v", old)
		}
		f.importConcept(ctx, "rex", "dog", 3, true)
		waitFor(t, "the replaced concept to leave the cache", func() bool { return len(a.Cache().Names()) == 1 })
		done, _, err := generate(ctx, f.direct(0), req, nil)
		if err != nil {
			t.Fatal(err)
		}
		if _, err := f.coord.DeleteConcept(ctx, &pb.DeleteConceptRequest{Name: "shades"}); err != nil {
			t.Fatal(err)
		}
		waitFor(t, "the deleted concept to leave the cache", func() bool {
			n := a.Cache().Names()
			return len(n) == 1 && n[0] == "rex"
		})
		_, _, err = generate(ctx, f.direct(0), req, nil)
		if status.Code(err) != codes.NotFound || !strings.Contains(err.Error(), `"shades"`) {
			t.Fatalf("generate with a deleted concept: %v, want NotFound naming it", err)
		}
		if done.Concepts[0].Digest == "" {
			t.Fatal("no digest")
		}
	})

	t.Run("concurrent requests share a UNet batch", func(t *testing.T) {
		// Different prompts, seeds and concept sets with the same size, steps and
		// scheduler: the worker batches whatever arrives within MaxWait of the first.
		reqs := []*pb.GenerateRequest{
			small("a dog wearing a sunglasses", &pb.ConceptBinding{ClassNoun: "dog", Concept: "rex"}),
			small("a dog in the snow", &pb.ConceptBinding{ClassNoun: "dog", Concept: "rex"}),
			small("photo of a dog", &pb.ConceptBinding{ClassNoun: "dog", Concept: "rex"}),
		}
		reqs[1].Seed = proto.Uint64(10)
		c := f.direct(1)
		if _, _, err := generate(ctx, c, reqs[0], nil); err != nil { // warm the cache
			t.Fatal(err)
		}
		var wg sync.WaitGroup
		dones := make([]*pb.Done, len(reqs))
		errs := make([]error, len(reqs))
		for i, r := range reqs {
			wg.Add(1)
			go func() { defer wg.Done(); dones[i], _, errs[i] = generate(ctx, c, r, nil) }()
		}
		wg.Wait()
		most := int32(0)
		for i := range reqs {
			if errs[i] != nil {
				t.Fatal(errs[i])
			}
			most = max(most, dones[i].UnetBatch)
		}
		if most < 4 { // two requests of two rows (CFG) each
			t.Fatalf("largest UNet batch %d rows: concurrent requests were not batched", most)
		}
		t.Logf("UNet batches: %d %d %d rows", dones[0].UnetBatch, dones[1].UnetBatch, dones[2].UnetBatch)
	})

	t.Run("invalid requests", func(t *testing.T) {
		long := strings.Repeat("very ", 80) + "dog"
		for _, tc := range []struct {
			name string
			edit func(r *pb.GenerateRequest)
			code codes.Code
			msg  string
		}{
			{"unknown concept", func(r *pb.GenerateRequest) { r.Concepts[0].Concept = "nosuch" }, codes.NotFound, `"nosuch"`},
			{"noun not in prompt", func(r *pb.GenerateRequest) { r.Prompt = "a cat" }, codes.InvalidArgument, "does not appear in the prompt"},
			{"steps", func(r *pb.GenerateRequest) { r.Steps = 1001 }, codes.InvalidArgument, "steps"},
			{"size range", func(r *pb.GenerateRequest) { r.Width = 4096 }, codes.InvalidArgument, "width"},
			{"size multiple", func(r *pb.GenerateRequest) { r.Height = 36 }, codes.InvalidArgument, "height"},
			{"too many images", func(r *pb.GenerateRequest) { r.NumImages = 17 }, codes.InvalidArgument, "num_images"},
			{"prompt bytes", func(r *pb.GenerateRequest) { r.Prompt = strings.Repeat("x", 1100) + " dog" }, codes.InvalidArgument, "prompt"},
			{"prompt tokens", func(r *pb.GenerateRequest) { r.Prompt = long }, codes.InvalidArgument, "tokens"},
		} {
			t.Run(tc.name, func(t *testing.T) {
				r := small("a dog", &pb.ConceptBinding{ClassNoun: "dog", Concept: "rex"})
				tc.edit(r)
				_, _, err := generate(ctx, f.direct(1), r, nil)
				if status.Code(err) != tc.code || !strings.Contains(err.Error(), tc.msg) {
					t.Fatalf("got %v, want %v mentioning %q", err, tc.code, tc.msg)
				}
			})
		}
	})
}

// TestCancelAndQueueFull checks that a cancelled client stops the denoising at the next
// step and that a full queue answers ResourceExhausted with a retry-after trailer.
func TestCancelAndQueueFull(t *testing.T) {
	ctx, cancel := context.WithTimeout(t.Context(), 90*time.Second)
	defer cancel()
	f := startFleet(t, ctx)
	// A third sampler with a queue of one and no batching.
	s, err := sampler.NewService(sampler.ServiceConfig{
		Node:    service.Config{EtcdEndpoints: f.st.Cluster.EtcdEndpoints, GRPC: &service.GRPCConfig{Token: f.st.Token}},
		NATSURL: f.st.Cluster.NATSURL(), Pipeline: f.p, MaxBatch: 1, QueueSize: 1, MaxWait: -1,
	})
	if err != nil {
		t.Fatal(err)
	}
	if err := s.Start(ctx); err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	conn, err := service.Dial(s.Addr(), service.ClientConfig{Token: f.st.Token})
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	c := pb.NewSamplerClient(conn)
	long := small("a dog")
	long.Steps = 500

	// started streams a long request and returns once it has run a step (or queued).
	started := func(want pb.Phase) (context.CancelFunc, chan error) {
		cctx, stop := context.WithCancel(ctx)
		st, err := c.Generate(cctx, long)
		if err != nil {
			t.Fatal(err)
		}
		for {
			m, err := st.Recv()
			if err != nil {
				t.Fatalf("waiting for %v: %v", want, err)
			}
			if m.GetProgress().GetPhase() == want {
				break
			}
		}
		errc := make(chan error, 1)
		go func() {
			for {
				if _, err := st.Recv(); err != nil {
					errc <- err
					return
				}
			}
		}()
		return stop, errc
	}

	stop1, err1 := started(pb.Phase_PHASE_DENOISING)
	stop2, err2 := started(pb.Phase_PHASE_QUEUED)
	waitFor(t, "queue depth 2", func() bool { return s.QueueDepth() == 2 })
	var trailer metadata.MD
	_, _, err = generate(ctx, c, small("a dog"), &trailer)
	if status.Code(err) != codes.ResourceExhausted || len(trailer.Get(pb.MetadataRetryAfterMs)) != 1 {
		t.Fatalf("third request: %v, trailer %v; want ResourceExhausted with %s", err, trailer, pb.MetadataRetryAfterMs)
	}
	if n := counter(t, s.Node().GRPC.Registry, "latexblend_sampler_rejected_total"); n != 1 {
		t.Fatalf("rejected_total = %v", n)
	}
	waitFor(t, "the member record to show queue depth 2", func() bool {
		ms, err := service.ListMembers(ctx, s.Node().Etcd, service.RoleSampler)
		if err != nil {
			return false
		}
		for _, m := range ms {
			if m.ID == s.ID() {
				return m.QueueDepth == 2
			}
		}
		return false
	})

	// Cancel both: the queued one leaves the queue, the running one stops at its next
	// step (500 steps would take a minute).
	t0 := time.Now()
	stop2()
	stop1()
	for _, e := range []chan error{err1, err2} {
		if err := <-e; status.Code(err) != codes.Canceled {
			t.Fatalf("cancelled stream ended with %v", err)
		}
	}
	waitFor(t, "the queue to drain after cancellation", func() bool { return s.QueueDepth() == 0 })
	if d := time.Since(t0); d > 5*time.Second {
		t.Fatalf("cancellation took %v", d)
	}
	if n := counter(t, s.Node().GRPC.Registry, "latexblend_sampler_images_total"); n != 0 {
		t.Fatalf("cancelled requests produced %v images", n)
	}
	waitFor(t, "the member record to show an empty queue", func() bool {
		ms, _ := service.ListMembers(ctx, s.Node().Etcd, service.RoleSampler)
		for _, m := range ms {
			if m.ID == s.ID() {
				return m.QueueDepth == 0
			}
		}
		return false
	})
}

// TestKilledSamplerRetried kills the sampler running a request; the router retries it
// on the other node, which produces the images.
func TestKilledSamplerRetried(t *testing.T) {
	ctx, cancel := context.WithTimeout(t.Context(), 90*time.Second)
	defer cancel()
	f := startFleet(t, ctx)
	req := small("a dog")
	req.Steps = 6
	var once sync.Once
	var victim string
	killed := make(chan struct{})
	res, err := f.router.Generate(ctx, req, func(id string, p *pb.Progress) {
		if p.GetPhase() != pb.Phase_PHASE_DENOISING {
			return
		}
		once.Do(func() {
			victim = id
			for _, s := range f.st.Samplers {
				if s.ID() == id {
					go func() { s.Crash(); close(killed) }()
				}
			}
		})
	})
	<-killed
	if err != nil {
		t.Fatal(err)
	}
	if victim == "" || res.Done.SamplerId == victim || len(res.Attempts) != 1 || res.Attempts[0].SamplerID != victim ||
		status.Code(res.Attempts[0].Err) != codes.Unavailable {
		t.Fatalf("victim %s; done on %s; attempts %v", victim, res.Done.SamplerId, res.Attempts)
	}
	if len(res.Images) != 1 || res.Done.Request.GetSeed() == 0 {
		t.Fatalf("%d images, seed %d", len(res.Images), res.Done.Request.GetSeed())
	}
}
