package coordinator_test

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"image"
	"image/color"
	"image/png"
	"log/slog"
	"strings"
	"testing"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
	clientv3 "go.etcd.io/etcd/client/v3"
	"google.golang.org/grpc"

	"github.com/latexblend/latexblend/coordinator"
	"github.com/latexblend/latexblend/devcluster"
	pb "github.com/latexblend/latexblend/proto/latexblend/v1"
	"github.com/latexblend/latexblend/service"
	"github.com/latexblend/latexblend/trainer"
)

const (
	testToken     = "tok"
	testBaseModel = "test-base-model-1"
)

// cluster is a devcluster with coordinators and trainers running the lsq test runner.
type cluster struct {
	t        *testing.T
	dc       *devcluster.Cluster
	coords   []*coordinator.Coordinator
	trainers []*trainer.Service
	runner   *lsqRunner
	nc       *nats.Conn
	buckets  map[string]jetstream.ObjectStore
	etcd     *clientv3.Client
	conns    []*grpc.ClientConn
	apis     []pb.CoordinatorClient
	dead     map[int]bool // crashed coordinators
}

type clusterConfig struct {
	coordinators, trainers int
	stepDelay              time.Duration
	coordinator            func(*coordinator.Config)
}

// testLogger routes logs to t.Log so they only show for failing tests.
func testLogger(t *testing.T) *slog.Logger {
	return slog.New(slog.NewTextHandler(tWriter{t}, &slog.HandlerOptions{Level: slog.LevelInfo}))
}

type tWriter struct{ t *testing.T }

func (w tWriter) Write(p []byte) (int, error) {
	w.t.Log(strings.TrimRight(string(p), "\n"))
	return len(p), nil
}

func startCluster(t *testing.T, ctx context.Context, cfg clusterConfig) *cluster {
	t.Helper()
	dc, err := devcluster.Start(ctx, devcluster.Config{})
	if err != nil {
		t.Fatal(err)
	}
	c := &cluster{t: t, dc: dc, runner: newLSQRunner(cfg.stepDelay), dead: map[int]bool{}}
	t.Cleanup(c.close)
	log := testLogger(t)
	for range cfg.coordinators {
		cc := coordinator.Config{
			Node:        service.Config{EtcdEndpoints: dc.EtcdEndpoints, MemberTTL: 2 * time.Second, GRPC: &service.GRPCConfig{Token: testToken}, Logger: log},
			NATSURL:     dc.NATSURL(),
			ElectionTTL: 2 * time.Second, ScheduleInterval: 200 * time.Millisecond,
		}
		if cfg.coordinator != nil {
			cfg.coordinator(&cc)
		}
		co, err := coordinator.New(cc)
		if err != nil {
			t.Fatal(err)
		}
		if err := co.Start(ctx); err != nil {
			t.Fatal(err)
		}
		c.coords = append(c.coords, co)
		conn, err := service.Dial(co.Addr(), service.ClientConfig{Token: testToken})
		if err != nil {
			t.Fatal(err)
		}
		c.conns = append(c.conns, conn)
		c.apis = append(c.apis, pb.NewCoordinatorClient(conn))
	}
	for range cfg.trainers {
		c.addTrainer(ctx)
	}
	if c.nc, err = nats.Connect(dc.NATSURL()); err != nil {
		t.Fatal(err)
	}
	js, err := jetstream.New(c.nc)
	if err != nil {
		t.Fatal(err)
	}
	if c.buckets, err = trainer.OpenBuckets(ctx, js); err != nil {
		t.Fatal(err)
	}
	if c.etcd, err = service.NewEtcdClient(ctx, dc.EtcdEndpoints, 5*time.Second); err != nil {
		t.Fatal(err)
	}
	waitFor(t, 10*time.Second, func() error {
		if c.leader() < 0 {
			return errors.New("no leader")
		}
		return nil
	})
	return c
}

// addTrainer starts one more trainer (2 s member TTL, the lsq runner).
func (c *cluster) addTrainer(ctx context.Context) *trainer.Service {
	c.t.Helper()
	tr, err := trainer.NewService(trainer.ServiceConfig{
		Node:    service.Config{EtcdEndpoints: c.dc.EtcdEndpoints, MemberTTL: 2 * time.Second, BaseModelID: testBaseModel, Logger: testLogger(c.t)},
		NATSURL: c.dc.NATSURL(), Runner: c.runner, RingTimeout: 10 * time.Second,
		ProgressInterval: 20 * time.Millisecond, PollInterval: 200 * time.Millisecond,
	})
	if err != nil {
		c.t.Fatal(err)
	}
	if err := tr.Start(ctx); err != nil {
		c.t.Fatal(err)
	}
	c.trainers = append(c.trainers, tr)
	return tr
}

func (c *cluster) close() {
	for _, conn := range c.conns {
		conn.Close()
	}
	if c.etcd != nil {
		c.etcd.Close()
	}
	if c.nc != nil {
		c.nc.Close()
	}
	for _, tr := range c.trainers {
		tr.Close()
	}
	for i, co := range c.coords {
		if !c.dead[i] {
			co.Close()
		}
	}
	c.dc.Close()
}

// leader is the index of the leading coordinator, or -1.
func (c *cluster) leader() int {
	for i, co := range c.coords {
		if !c.dead[i] && co.IsLeader() {
			return i
		}
	}
	return -1
}

// api is a client of a live coordinator.
func (c *cluster) api() pb.CoordinatorClient {
	for i := range c.coords {
		if !c.dead[i] {
			return c.apis[i]
		}
	}
	c.t.Fatal("no live coordinator")
	return nil
}

// testPNG encodes a small PNG whose pixels depend on seed.
func testPNG(t *testing.T, seed int) []byte {
	t.Helper()
	img := image.NewRGBA(image.Rect(0, 0, 16, 16))
	for y := range 16 {
		for x := range 16 {
			img.Set(x, y, color.RGBA{uint8(x * seed), uint8(y * 7), uint8(seed), 255})
		}
	}
	var buf bytes.Buffer
	if err := png.Encode(&buf, img); err != nil {
		t.Fatal(err)
	}
	return buf.Bytes()
}

func testImages(t *testing.T, n int) []coordinator.ImageFile {
	var out []coordinator.ImageFile
	for i := range n {
		out = append(out, coordinator.ImageFile{Name: fmt.Sprintf("img%d.png", i), Data: testPNG(t, i+1)})
	}
	return out
}

// spec is a small job for the lsq runner.
func spec(name string, workers, steps, every int) *pb.ConceptJobSpec {
	return &pb.ConceptJobSpec{ConceptName: name, ClassNoun: "dog", Workers: int32(workers), Steps: int32(steps),
		CheckpointEvery: int32(every), LearningRate: 0.05, BatchSize: 2, Seed: 7}
}

func (c *cluster) submit(ctx context.Context, s *pb.ConceptJobSpec, images int) *pb.Job {
	c.t.Helper()
	j, err := coordinator.Submit(ctx, c.api(), c.buckets[trainer.BucketDatasets], s, testImages(c.t, images), nil)
	if err != nil {
		c.t.Fatalf("submit %s: %v", s.ConceptName, err)
	}
	return j
}

func (c *cluster) job(ctx context.Context, id string) *pb.Job {
	c.t.Helper()
	r, err := c.api().GetJob(ctx, &pb.GetJobRequest{JobId: id})
	if err != nil {
		c.t.Fatalf("GetJob %s: %v", id, err)
	}
	return r.Job
}

// waitState waits until job id is in state want (failing early on another terminal state).
func (c *cluster) waitState(ctx context.Context, id string, want pb.JobState, within time.Duration) *pb.Job {
	c.t.Helper()
	var j *pb.Job
	waitFor(c.t, within, func() error {
		j = c.job(ctx, id)
		if j.Status.State == want {
			return nil
		}
		if trainer.Terminal(j.Status.State) {
			c.t.Fatalf("job %s ended %v (%s), want %v", id, j.Status.State, j.Status.FailureReason, want)
		}
		return fmt.Errorf("job %s is %v at step %d", id, j.Status.State, j.Status.Step)
	})
	return j
}

// objects lists the names in a bucket with the given prefix.
func (c *cluster) objects(ctx context.Context, bucket, prefix string) []string {
	c.t.Helper()
	infos, err := coordinator.ListObjects(ctx, c.buckets[bucket])
	if err != nil {
		c.t.Fatal(err)
	}
	var out []string
	for _, o := range infos {
		if strings.HasPrefix(o.Name, prefix) {
			out = append(out, o.Name)
		}
	}
	return out
}

// keys lists the etcd keys under prefix.
func (c *cluster) keys(ctx context.Context, prefix string) []string {
	c.t.Helper()
	resp, err := c.etcd.Get(ctx, prefix, clientv3.WithPrefix(), clientv3.WithKeysOnly())
	if err != nil {
		c.t.Fatal(err)
	}
	var out []string
	for _, kv := range resp.Kvs {
		out = append(out, string(kv.Key))
	}
	return out
}

// claims maps trainer id to job id.
func (c *cluster) claims(ctx context.Context) map[string]string {
	c.t.Helper()
	resp, err := c.etcd.Get(ctx, trainer.ClaimsPrefix, clientv3.WithPrefix())
	if err != nil {
		c.t.Fatal(err)
	}
	out := map[string]string{}
	for _, kv := range resp.Kvs {
		out[strings.TrimPrefix(string(kv.Key), trainer.ClaimsPrefix)] = string(kv.Value)
	}
	return out
}
