package sampler

import (
	"container/list"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"sync"
	"time"

	"github.com/nats-io/nats.go/jetstream"
	clientv3 "go.etcd.io/etcd/client/v3"

	"github.com/latexblend/latexblend/blend"
	"github.com/latexblend/latexblend/service"
	"github.com/latexblend/latexblend/trainer"
)

// cachedConcept is one bank entry held in memory.
type cachedConcept struct {
	name   string
	digest string
	entry  *blend.Entry
	bytes  int64 // decoded K/V bytes, what the cache bound counts
}

// ConceptCache holds concept entries fetched from the bank (the etcd registry and the
// `concepts` Object Store bucket) in an LRU bounded in bytes. Every fetched entry's
// digest is verified; an etcd watch on the registry evicts entries that are replaced
// or deleted. It is safe for concurrent use.
type ConceptCache struct {
	cli      *clientv3.Client
	store    jetstream.ObjectStore
	identity string
	max      int64
	metrics  *metrics
	onChange func()

	mu       sync.Mutex
	lru      *list.List // of *cachedConcept, most recent first
	items    map[string]*list.Element
	bytes    int64
	inflight map[string]*loadCall
	// gen counts registry events per name, so a load that raced with a replacement
	// does not cache what it read before the event; epoch counts Clear calls, for the
	// same reason across every name.
	gen   map[string]uint64
	epoch uint64
	// watch opens the registry watch (c.cli.Watch; a test may end it early).
	watch func(ctx context.Context, key string, opts ...clientv3.OpOption) clientv3.WatchChan
}

type loadCall struct {
	done chan struct{}
	c    *cachedConcept
	err  error
}

// CacheConfig configures a ConceptCache.
type CacheConfig struct {
	Etcd  *clientv3.Client
	Store jetstream.ObjectStore
	// Identity is the loaded base model's; entries made for another are refused.
	Identity string
	// MaxBytes bounds the decoded entries held (an entry larger than that is used once
	// and not kept).
	MaxBytes int64
	// OnChange is called (without locks held) after the set of cached names changed.
	OnChange func()
	metrics  *metrics
}

// NewConceptCache builds an empty cache; call Watch to keep it consistent with the bank.
func NewConceptCache(cfg CacheConfig) *ConceptCache {
	c := &ConceptCache{
		cli: cfg.Etcd, store: cfg.Store, identity: cfg.Identity, max: cfg.MaxBytes, metrics: cfg.metrics,
		onChange: cfg.OnChange, lru: list.New(), items: map[string]*list.Element{},
		inflight: map[string]*loadCall{}, gen: map[string]uint64{},
	}
	if c.cli != nil {
		c.watch = c.cli.Watch
	}
	return c
}

// Get returns the named entry, from memory or the bank. hit says which.
func (c *ConceptCache) Get(ctx context.Context, name string) (entry *blend.Entry, digest string, hit bool, err error) {
	cc, hit, err := c.get(ctx, name)
	if err != nil {
		return nil, "", false, err
	}
	return cc.entry, cc.digest, hit, nil
}

func (c *ConceptCache) get(ctx context.Context, name string) (*cachedConcept, bool, error) {
	c.mu.Lock()
	if el, ok := c.items[name]; ok {
		c.lru.MoveToFront(el)
		c.mu.Unlock()
		c.metrics.cacheHit()
		return el.Value.(*cachedConcept), true, nil
	}
	if call, ok := c.inflight[name]; ok {
		c.mu.Unlock()
		select {
		case <-call.done:
			return call.c, false, call.err
		case <-ctx.Done():
			return nil, false, ctx.Err()
		}
	}
	call := &loadCall{done: make(chan struct{})}
	c.inflight[name] = call
	gen, epoch := c.gen[name], c.epoch
	c.mu.Unlock()
	c.metrics.cacheMiss()

	start := time.Now()
	// The load outlives one caller's cancellation: others may be waiting on it.
	lctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), time.Minute)
	call.c, call.err = c.load(lctx, name)
	cancel()
	if call.err == nil {
		c.metrics.observeLoad(time.Since(start))
	}
	changed := false
	c.mu.Lock()
	delete(c.inflight, name)
	if call.err == nil && c.gen[name] == gen && c.epoch == epoch && call.c.bytes <= c.max {
		c.items[name] = c.lru.PushFront(call.c)
		c.bytes += call.c.bytes
		for c.bytes > c.max {
			old := c.lru.Back().Value.(*cachedConcept)
			c.removeLocked(old.name)
		}
		changed = true
	}
	c.metrics.setCache(c.bytes, len(c.items))
	c.mu.Unlock()
	close(call.done)
	if changed && c.onChange != nil {
		c.onChange()
	}
	return call.c, false, call.err
}

// load reads the registry record, fetches the object, verifies its digest and decodes it.
func (c *ConceptCache) load(ctx context.Context, name string) (*cachedConcept, error) {
	var rec trainer.ConceptRecord
	found, _, err := trainer.GetJSON(ctx, c.cli, trainer.ConceptKey(name), &rec)
	if err != nil {
		return nil, fmt.Errorf("concept %q: registry: %w", name, err)
	}
	if !found {
		return nil, fmt.Errorf("concept %q is not in the bank: %w", name, service.ErrNotFound)
	}
	if c.identity != "" && rec.BaseModelID != c.identity {
		return nil, fmt.Errorf("concept %q was made for base model %s, this sampler runs %s: %w", name, rec.BaseModelID, c.identity, service.ErrFailed)
	}
	if c.store == nil {
		return nil, fmt.Errorf("concept %q: this sampler has no concept bank (no NATS URL configured): %w", name, service.ErrUnavailable)
	}
	b, err := c.store.GetBytes(ctx, rec.Object)
	if errors.Is(err, jetstream.ErrObjectNotFound) {
		return nil, fmt.Errorf("concept %q: its entry object %s is gone from the bank: %w", name, rec.Object, service.ErrNotFound)
	}
	if err != nil {
		return nil, fmt.Errorf("concept %q: fetch %s: %w", name, rec.Object, err)
	}
	if got := trainer.Digest(b); got != rec.Digest {
		return nil, fmt.Errorf("concept %q: entry object %s has digest %s, the registry says %s: %w", name, rec.Object, got, rec.Digest, service.ErrFailed)
	}
	e, err := decodeEntry(b)
	if err != nil {
		return nil, fmt.Errorf("concept %q: %w: %w", name, err, service.ErrFailed)
	}
	var n int64
	for place := 1; place <= e.NumPlaces(); place++ {
		layers, _ := e.LayersAt(place)
		for _, l := range layers {
			n += int64(len(l.K)+len(l.V)) * 4
		}
	}
	return &cachedConcept{name: name, digest: rec.Digest, entry: e, bytes: n}, nil
}

// decodeEntry parses entry bytes with blend's reader (which reads files).
func decodeEntry(b []byte) (*blend.Entry, error) {
	dir, err := os.MkdirTemp("", "latexblend-entry-")
	if err != nil {
		return nil, err
	}
	defer os.RemoveAll(dir)
	path := filepath.Join(dir, "entry.safetensors")
	if err := os.WriteFile(path, b, 0o600); err != nil {
		return nil, err
	}
	return blend.ReadEntry(path)
}

func (c *ConceptCache) removeLocked(name string) bool {
	el, ok := c.items[name]
	if !ok {
		return false
	}
	cc := c.lru.Remove(el).(*cachedConcept)
	delete(c.items, name)
	c.bytes -= cc.bytes
	c.metrics.setCache(c.bytes, len(c.items))
	return true
}

// invalidate drops name (if held) after a registry change.
func (c *ConceptCache) invalidate(name, digest string) {
	c.mu.Lock()
	c.gen[name]++
	changed := false
	if el, ok := c.items[name]; ok && (digest == "" || el.Value.(*cachedConcept).digest != digest) {
		changed = c.removeLocked(name)
	}
	c.mu.Unlock()
	if changed && c.onChange != nil {
		c.onChange()
	}
}

// Watch evicts entries as the registry changes until ctx ends. It starts from the
// current revision; call it before serving.
//
// An etcd watch can end while ctx is live: the member loses its leader
// (WithRequireLeader), the connection resets, or the revision it needs is compacted.
// Watch then watches again from the first revision it has not seen, so no change is
// missed; only when that revision is compacted away does it drop every entry (changes
// may have been lost) and start again from the current one.
func (c *ConceptCache) Watch(ctx context.Context) {
	var next int64 // the first revision not yet seen; 0: start afresh
	for attempt := 0; ctx.Err() == nil; attempt++ {
		if next == 0 {
			rev, err := c.currentRevision(ctx)
			if err != nil {
				c.pause(ctx, attempt)
				continue
			}
			// Cleared after reading the revision: a load that starts later reads at
			// least that revision, and the watch reports every change after it.
			c.Clear()
			next = rev + 1
		}
		if seen := c.watchFrom(ctx, next); seen > next {
			next, attempt = seen, 0
		} else if seen == 0 {
			next = 0
		}
		c.pause(ctx, attempt)
	}
}

// currentRevision is the registry's etcd revision now.
func (c *ConceptCache) currentRevision(ctx context.Context) (int64, error) {
	resp, err := c.cli.Get(ctx, trainer.ConceptsPrefix, clientv3.WithPrefix(), clientv3.WithCountOnly())
	if err != nil {
		return 0, err
	}
	return resp.Header.Revision, nil
}

// watchFrom applies the registry's changes from revision rev on until the watch ends,
// and returns the first revision it has not seen: rev or later, or 0 when rev has
// been compacted away.
func (c *ConceptCache) watchFrom(ctx context.Context, rev int64) int64 {
	wctx, cancel := context.WithCancel(clientv3.WithRequireLeader(ctx))
	defer cancel()
	for resp := range c.watch(wctx, trainer.ConceptsPrefix, clientv3.WithPrefix(), clientv3.WithRev(rev)) {
		if resp.CompactRevision != 0 {
			return 0
		}
		for _, ev := range resp.Events {
			name := strings.TrimPrefix(string(ev.Kv.Key), trainer.ConceptsPrefix)
			var rec trainer.ConceptRecord
			switch {
			case ev.Type == clientv3.EventTypeDelete:
				c.invalidate(name, "")
			case json.Unmarshal(ev.Kv.Value, &rec) != nil:
				c.invalidate(name, "")
			default:
				c.invalidate(name, rec.Digest)
			}
			rev = max(rev, ev.Kv.ModRevision+1)
		}
		if resp.Canceled {
			break
		}
	}
	return rev
}

// pause waits before the next watch: 100 ms doubling to 5 s over failed attempts.
func (c *ConceptCache) pause(ctx context.Context, attempt int) {
	d := min(100*time.Millisecond<<min(attempt, 6), 5*time.Second)
	select {
	case <-ctx.Done():
	case <-time.After(d):
	}
}

// Clear drops every entry.
func (c *ConceptCache) Clear() {
	c.mu.Lock()
	c.epoch++
	for name := range c.items {
		c.gen[name]++
		c.removeLocked(name)
	}
	c.mu.Unlock()
	if c.onChange != nil {
		c.onChange()
	}
}

// Names lists the cached concepts, sorted.
func (c *ConceptCache) Names() []string {
	c.mu.Lock()
	defer c.mu.Unlock()
	out := make([]string, 0, len(c.items))
	for n := range c.items {
		out = append(out, n)
	}
	sort.Strings(out)
	return out
}

// Bytes is the decoded size of the cached entries.
func (c *ConceptCache) Bytes() int64 {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.bytes
}
