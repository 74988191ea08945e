package devcluster_test

import (
	"context"
	"testing"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
	clientv3 "go.etcd.io/etcd/client/v3"
	"go.uber.org/goleak"

	"github.com/latexblend/latexblend/devcluster"
)

func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

func TestStartEtcdAndNATS(t *testing.T) {
	ctx, cancel := context.WithTimeout(t.Context(), 60*time.Second)
	defer cancel()
	c, err := devcluster.Start(ctx, devcluster.Config{})
	if err != nil {
		t.Fatal(err)
	}
	defer func() {
		if err := c.Close(); err != nil {
			t.Error(err)
		}
		if err := c.Close(); err != nil { // second Close must be harmless
			t.Error(err)
		}
	}()

	cli, err := clientv3.New(clientv3.Config{Endpoints: c.EtcdEndpoints, DialTimeout: 5 * time.Second})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := cli.Put(ctx, "/latexblend/test/", "v"); err != nil {
		t.Fatal(err)
	}
	got, err := cli.Get(ctx, "/latexblend/test/")
	if err != nil || len(got.Kvs) != 1 || string(got.Kvs[0].Value) != "v" {
		t.Fatalf("etcd get: %v %v", got, err)
	}
	cli.Close()

	nc, js, err := c.JetStream()
	if err != nil {
		t.Fatal(err)
	}
	defer nc.Close()
	if _, err := js.CreateObjectStore(ctx, jetstream.ObjectStoreConfig{Bucket: "datasets"}); err != nil {
		t.Fatalf("jetstream object store: %v", err)
	}
}

func TestNATSClusterRoutesMessages(t *testing.T) {
	ctx, cancel := context.WithTimeout(t.Context(), 60*time.Second)
	defer cancel()
	c, err := devcluster.Start(ctx, devcluster.Config{NATSServers: 3, NoEtcd: true})
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	if len(c.NATSURLs) != 3 {
		t.Fatalf("want 3 urls, got %v", c.NATSURLs)
	}
	sub, err := nats.Connect(c.NATSURLs[0])
	if err != nil {
		t.Fatal(err)
	}
	defer sub.Close()
	pub, err := nats.Connect(c.NATSURLs[2])
	if err != nil {
		t.Fatal(err)
	}
	defer pub.Close()
	s, err := sub.SubscribeSync("x.y")
	if err != nil {
		t.Fatal(err)
	}
	sub.Flush()
	// Interest propagates across routes asynchronously; retry until delivered.
	deadline := time.Now().Add(10 * time.Second)
	for {
		pub.Publish("x.y", []byte("hello"))
		pub.Flush()
		m, err := s.NextMsg(100 * time.Millisecond)
		if err == nil {
			if string(m.Data) != "hello" {
				t.Fatalf("got %q", m.Data)
			}
			return
		}
		if time.Now().After(deadline) {
			t.Fatal("message not routed across the NATS cluster")
		}
	}
}

func TestEndpointsFileRoundTrip(t *testing.T) {
	t.Setenv(devcluster.HomeEnv, t.TempDir())
	p, err := devcluster.EndpointsPath()
	if err != nil {
		t.Fatal(err)
	}
	if _, err := devcluster.ReadEndpoints(p); err != devcluster.ErrNoDevCluster {
		t.Fatalf("missing file: got %v, want ErrNoDevCluster", err)
	}
	want := devcluster.Endpoints{Etcd: []string{"http://127.0.0.1:1"}, NATS: "nats://127.0.0.1:2", Coordinator: "127.0.0.1:3", Token: "t"}
	if err := devcluster.WriteEndpoints(p, want); err != nil {
		t.Fatal(err)
	}
	got, err := devcluster.ReadEndpoints(p)
	if err != nil {
		t.Fatal(err)
	}
	if got.Etcd[0] != want.Etcd[0] || got.NATS != want.NATS || got.Coordinator != want.Coordinator || got.Token != want.Token {
		t.Fatalf("round trip: got %+v want %+v", got, want)
	}
}
