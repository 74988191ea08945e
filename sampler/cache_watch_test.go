package sampler

import (
	"context"
	"encoding/json"
	"sync"
	"testing"
	"time"

	"github.com/nats-io/nats.go/jetstream"
	clientv3 "go.etcd.io/etcd/client/v3"

	"github.com/latexblend/latexblend/blend"
	"github.com/latexblend/latexblend/devcluster"
	"github.com/latexblend/latexblend/trainer"
)

// interruptibleWatch opens real etcd watches that the test can end early, as a lost
// leader or a reset connection ends them while the cache's context is live. Each watch
// it opens reports its start revision on revs.
type interruptibleWatch struct {
	cli  *clientv3.Client
	revs chan int64

	mu     sync.Mutex
	cancel context.CancelFunc
	// hold, when set, keeps the next watch from opening until it is closed.
	hold chan struct{}
}

func (w *interruptibleWatch) watch(ctx context.Context, key string, opts ...clientv3.OpOption) clientv3.WatchChan {
	w.mu.Lock()
	hold := w.hold
	w.mu.Unlock()
	if hold != nil {
		select {
		case <-hold:
		case <-ctx.Done():
		}
	}
	op := clientv3.OpGet(key, opts...)
	wctx, cancel := context.WithCancel(ctx)
	w.mu.Lock()
	w.cancel = cancel
	w.mu.Unlock()
	ch := w.cli.Watch(wctx, key, opts...)
	select {
	case w.revs <- op.Rev():
	default:
	}
	return ch
}

// interrupt ends the open watch; the next one waits until release is called.
func (w *interruptibleWatch) interrupt() (release func()) {
	hold := make(chan struct{})
	w.mu.Lock()
	w.hold = hold
	cancel := w.cancel
	w.mu.Unlock()
	cancel()
	return func() {
		w.mu.Lock()
		w.hold = nil
		w.mu.Unlock()
		close(hold)
	}
}

// TestCacheWatchResumes ends the cache's registry watch twice while its context lives.
// A concept replaced while the watch is down must still leave the cache (the watch
// resumes from the first revision it has not seen), and when that revision has been
// compacted away the cache drops everything and watches from the current revision.
// Before the resume, Watch returned when its first etcd watch ended, and the cache
// served replaced concepts from then on.
func TestCacheWatchResumes(t *testing.T) {
	ctx, cancel := context.WithTimeout(t.Context(), time.Minute)
	defer cancel()
	dc, err := devcluster.Start(ctx, devcluster.Config{})
	if err != nil {
		t.Fatal(err)
	}
	defer dc.Close()
	cli, err := clientv3.New(clientv3.Config{Endpoints: dc.EtcdEndpoints, DialTimeout: 5 * time.Second})
	if err != nil {
		t.Fatal(err)
	}
	defer cli.Close()
	nc, js, err := dc.JetStream()
	if err != nil {
		t.Fatal(err)
	}
	defer nc.Close()
	store, err := js.CreateOrUpdateObjectStore(ctx, jetstream.ObjectStoreConfig{Bucket: trainer.BucketConcepts})
	if err != nil {
		t.Fatal(err)
	}
	// publish stores an entry for "dog" whose rows start with v and points the registry
	// at it; it returns the digest.
	publish := func(v float32) string {
		e := &blend.Entry{ClassNoun: "dog", ModifierToken: "<new1>", NTok: 1, Layers: map[string]blend.LayerKV{
			"mid.attn2": {Channels: 2, K: []float32{v, 1}, V: []float32{2, 3}},
		}}
		b := entryBytes(t, e)
		digest := trainer.Digest(b)
		if _, err := store.PutBytes(ctx, "entries/"+digest, b); err != nil {
			t.Fatal(err)
		}
		rec, _ := json.Marshal(trainer.ConceptRecord{Name: "dog", Object: "entries/" + digest, Digest: digest, ClassNoun: "dog", NTok: 1})
		if _, err := cli.Put(ctx, trainer.ConceptKey("dog"), string(rec)); err != nil {
			t.Fatal(err)
		}
		return digest
	}
	publish(1)

	w := &interruptibleWatch{cli: cli, revs: make(chan int64, 8)}
	cache := NewConceptCache(CacheConfig{Etcd: cli, Store: store, MaxBytes: 1 << 20})
	cache.watch = w.watch
	wctx, stop := context.WithCancel(ctx)
	var wg sync.WaitGroup
	wg.Go(func() { cache.Watch(wctx) })
	defer func() { stop(); wg.Wait() }()
	// nextWatch is the start revision of the next watch the cache opens.
	nextWatch := func(what string) int64 {
		t.Helper()
		select {
		case rev := <-w.revs:
			return rev
		case <-time.After(10 * time.Second):
			t.Fatalf("%s: the cache opened no watch", what)
			return 0
		}
	}
	first := nextWatch("start")

	// cached checks that "dog" is cached with digest want after a Get.
	cached := func(what, want string) {
		t.Helper()
		if _, got, _, err := cache.Get(ctx, "dog"); err != nil || got != want {
			t.Fatalf("%s: Get gives digest %s (%v), want %s", what, got, err, want)
		}
	}
	waitEvicted := func(what string) {
		t.Helper()
		deadline := time.Now().Add(10 * time.Second)
		for len(cache.Names()) != 0 {
			if time.Now().After(deadline) {
				t.Fatalf("%s: the cache still holds %v", what, cache.Names())
			}
			time.Sleep(10 * time.Millisecond)
		}
	}

	d1 := publish(1)
	cached("before any interruption", d1)

	// 1. Replaced while the watch is down: the resumed watch starts at the first
	// revision not seen and reports the replacement.
	release := w.interrupt()
	d2 := publish(2)
	release()
	if rev := nextWatch("after the first interruption"); rev <= first {
		t.Errorf("the resumed watch starts at revision %d, not after the first one's %d", rev, first)
	}
	waitEvicted("replaced while the watch was down")
	cached("after the resumed watch", d2)

	// 2. Replaced and compacted while the watch is down: the cache is cleared and
	// watches afresh.
	release = w.interrupt()
	d3 := publish(3)
	// A write elsewhere moves the revision past the replacement's, so compacting at it
	// removes the revision the watch would resume from.
	resp, err := cli.Put(ctx, "/unrelated", "x")
	if err != nil {
		t.Fatal(err)
	}
	if _, err := cli.Compact(ctx, resp.Header.Revision); err != nil {
		t.Fatal(err)
	}
	release()
	nextWatch("the resume, refused as compacted")
	if rev := nextWatch("after the compaction"); rev <= resp.Header.Revision {
		t.Errorf("after the compaction the watch starts at revision %d, want after %d", rev, resp.Header.Revision)
	}
	waitEvicted("replaced and compacted while the watch was down")
	cached("after the fresh watch", d3)

	// The fresh watch works: a replacement evicts at once.
	publish(4)
	waitEvicted("replaced after the fresh watch")
}
