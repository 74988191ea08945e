package coordinator

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/nats-io/nats.go/jetstream"
)

// ObjectStore.List can hang while another client deletes objects of the same bucket:
// it waits for the message its watcher's consumer reports as the last pending one, and
// a delete's rollup can remove that message first, so the "caught up" marker never
// comes and the call returns only when its context ends. Measured with nats.go v1.55.0
// and an embedded nats-server 2.15.2: about 1 List in 70 racing with four deletes hung
// (TestListObjectsSurvivesConcurrentDeletes). A fresh call does not inherit the race,
// so listObjects bounds each attempt and tries again.
const (
	listAttemptTimeout = 5 * time.Second
	listAttempts       = 4
)

// listObjects lists store's objects (nil, not an error, when it has none), retrying an
// attempt that outlives listAttemptTimeout while ctx is still live.
func listObjects(ctx context.Context, store jetstream.ObjectStore) ([]*jetstream.ObjectInfo, error) {
	return listObjectsWithin(ctx, store, listAttemptTimeout)
}

func listObjectsWithin(ctx context.Context, store jetstream.ObjectStore, perAttempt time.Duration) ([]*jetstream.ObjectInfo, error) {
	for attempt := 1; ; attempt++ {
		actx, cancel := context.WithTimeout(ctx, perAttempt)
		objs, err := store.List(actx)
		cancel()
		switch {
		case err == nil:
			return objs, nil
		case errors.Is(err, jetstream.ErrNoObjectsFound):
			return nil, nil
		case ctx.Err() != nil || !errors.Is(err, context.DeadlineExceeded):
			return nil, err
		case attempt == listAttempts:
			return nil, fmt.Errorf("%d attempts of %v each timed out: %w", attempt, perAttempt, err)
		}
	}
}
