package coordinator

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"testing"
	"time"

	"github.com/nats-io/nats.go/jetstream"

	"github.com/latexblend/latexblend/devcluster"
)

// ListObjects is listObjects for the external tests' harness.
var ListObjects = listObjects

// TestListObjectsSurvivesConcurrentDeletes lists a bucket while another client deletes
// its objects, the race in which a bare ObjectStore.List can hang until its context
// ends (objects.go). Every listObjects call returns within its attempts, each list is
// a subset of what was there, and the test reports how many bare List calls hung
// alongside (that count is nats.go's, so it is logged, not asserted).
func TestListObjectsSurvivesConcurrentDeletes(t *testing.T) {
	ctx, cancel := context.WithTimeout(t.Context(), 2*time.Minute)
	defer cancel()
	dc, err := devcluster.Start(ctx, devcluster.Config{NoEtcd: true})
	if err != nil {
		t.Fatal(err)
	}
	defer dc.Close()
	nc, js, err := dc.JetStream()
	if err != nil {
		t.Fatal(err)
	}
	defer nc.Close()
	store, err := js.CreateOrUpdateObjectStore(ctx, jetstream.ObjectStoreConfig{Bucket: "listrace"})
	if err != nil {
		t.Fatal(err)
	}
	const rounds, perRound = 60, 4
	const perAttempt = time.Second
	var bareHangs int
	for round := range rounds {
		names := map[string]bool{}
		for i := range perRound {
			name := fmt.Sprintf("job%d/ck-%d", round, i)
			names[name] = true
			if _, err := store.PutBytes(ctx, name, make([]byte, 3000)); err != nil {
				t.Fatal(err)
			}
		}
		var wg sync.WaitGroup
		wg.Go(func() {
			for name := range names {
				if err := store.Delete(ctx, name); err != nil {
					t.Errorf("delete %s: %v", name, err)
				}
			}
		})
		for range 2 {
			start := time.Now()
			objs, err := listObjectsWithin(ctx, store, perAttempt)
			if err != nil {
				t.Fatalf("round %d: listObjects: %v", round, err)
			}
			if el := time.Since(start); el > listAttempts*perAttempt+time.Second {
				t.Fatalf("round %d: listObjects took %v", round, el)
			}
			for _, o := range objs {
				if !names[o.Name] {
					t.Fatalf("round %d: listed %q, which this round did not write (or an earlier round deleted)", round, o.Name)
				}
			}
			bctx, bcancel := context.WithTimeout(ctx, perAttempt)
			if _, err := store.List(bctx); errors.Is(err, context.DeadlineExceeded) {
				bareHangs++
			}
			bcancel()
		}
		wg.Wait()
	}
	t.Logf("bare ObjectStore.List calls that hung for %v: %d of %d", perAttempt, bareHangs, 2*rounds)
}
