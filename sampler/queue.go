package sampler

import (
	"context"
	"fmt"
	"sync"
	"time"

	"github.com/latexblend/latexblend/service"
)

// job is an admitted request: a run plus its place in the queue.
type job struct {
	run
	enqueued, started time.Time
	unetBatch         int
	done              chan struct{}
}

// queue is a sampler's bounded admission queue and its batching worker. Requests wait
// until the worker takes them; the worker takes the oldest and, when it can share a
// batch, every waiting request with the same batch key, up to maxBatch images, waiting
// at most maxWait (from the oldest's arrival) for companions.
type queue struct {
	limit    int
	maxBatch int
	maxWait  time.Duration
	exec     func(ctx context.Context, jobs []*job)
	onDepth  func(depth int)

	mu      sync.Mutex
	waiting []*job
	running int
	wake    chan struct{}
	// batchTime is a moving average of a batch's run time, for retry-after hints.
	batchTime time.Duration
}

func newQueue(limit, maxBatch int, maxWait time.Duration, exec func(context.Context, []*job), onDepth func(int)) *queue {
	return &queue{limit: limit, maxBatch: maxBatch, maxWait: maxWait, exec: exec, onDepth: onDepth, wake: make(chan struct{}, 1)}
}

// submit admits j or refuses it with ErrQueueFull. It returns j's queue position
// (requests ahead of it, running ones included).
func (q *queue) submit(j *job) (int, error) {
	q.mu.Lock()
	if len(q.waiting) >= q.limit {
		n := len(q.waiting)
		q.mu.Unlock()
		return 0, fmt.Errorf("sampler queue is full (%d requests waiting, the limit): %w", n, service.ErrQueueFull)
	}
	j.enqueued = time.Now()
	j.done = make(chan struct{})
	pos := len(q.waiting) + q.running
	q.waiting = append(q.waiting, j)
	depth := len(q.waiting) + q.running
	q.mu.Unlock()
	q.notify()
	q.onDepth(depth)
	return pos, nil
}

// remove takes a cancelled job out of the queue if the worker has not taken it.
func (q *queue) remove(j *job) bool {
	q.mu.Lock()
	for i, w := range q.waiting {
		if w == j {
			q.waiting = append(q.waiting[:i], q.waiting[i+1:]...)
			depth := len(q.waiting) + q.running
			q.mu.Unlock()
			q.onDepth(depth)
			return true
		}
	}
	q.mu.Unlock()
	return false
}

// depth is the number of admitted, unfinished requests.
func (q *queue) depth() int {
	q.mu.Lock()
	defer q.mu.Unlock()
	return len(q.waiting) + q.running
}

// retryAfter estimates when a slot frees up: the batches ahead times the mean batch time.
func (q *queue) retryAfter() time.Duration {
	q.mu.Lock()
	defer q.mu.Unlock()
	batches := (len(q.waiting) + q.maxBatch - 1) / q.maxBatch
	d := time.Duration(max(batches, 1)) * q.batchTime
	return max(d, 100*time.Millisecond)
}

func (q *queue) notify() {
	select {
	case q.wake <- struct{}{}:
	default:
	}
}

// work runs batches until ctx ends.
func (q *queue) work(ctx context.Context) {
	for {
		batch := q.next(ctx)
		if batch == nil {
			return
		}
		start := time.Now()
		q.exec(ctx, batch)
		took := time.Since(start)
		q.mu.Lock()
		q.running -= len(batch)
		if q.batchTime == 0 {
			q.batchTime = took
		} else {
			q.batchTime = (3*q.batchTime + took) / 4
		}
		depth := len(q.waiting) + q.running
		q.mu.Unlock()
		for _, j := range batch {
			close(j.done)
		}
		q.onDepth(depth)
	}
}

// next waits for work and returns the next batch (nil when ctx ends).
func (q *queue) next(ctx context.Context) []*job {
	var timer *time.Timer
	defer func() {
		if timer != nil {
			timer.Stop()
		}
	}()
	for {
		q.mu.Lock()
		if len(q.waiting) > 0 {
			head := q.waiting[0]
			picked, full := q.pickLocked(head)
			if full || time.Since(head.enqueued) >= q.maxWait {
				q.takeLocked(picked)
				q.mu.Unlock()
				return picked
			}
			wait := q.maxWait - time.Since(head.enqueued)
			q.mu.Unlock()
			if timer == nil {
				timer = time.NewTimer(wait)
			} else {
				timer.Reset(wait)
			}
			select {
			case <-ctx.Done():
				return nil
			case <-q.wake:
			case <-timer.C:
			}
			continue
		}
		q.mu.Unlock()
		select {
		case <-ctx.Done():
			return nil
		case <-q.wake:
		}
	}
}

// pickLocked chooses head and the waiting requests that may share its batch; full says
// the batch cannot grow (max images reached, or head runs alone).
func (q *queue) pickLocked(head *job) ([]*job, bool) {
	if !head.plan.batchable() {
		return []*job{head}, true
	}
	key := head.plan.key()
	picked := []*job{head}
	images := head.plan.images
	for _, j := range q.waiting[1:] {
		if images >= q.maxBatch {
			break
		}
		if j.plan.batchable() && j.plan.key() == key && images+j.plan.images <= q.maxBatch {
			picked = append(picked, j)
			images += j.plan.images
		}
	}
	return picked, images >= q.maxBatch
}

func (q *queue) takeLocked(picked []*job) {
	keep := q.waiting[:0]
	taken := map[*job]bool{}
	for _, j := range picked {
		taken[j] = true
	}
	for _, j := range q.waiting {
		if !taken[j] {
			keep = append(keep, j)
		}
	}
	q.waiting = keep
	q.running += len(picked)
	now := time.Now()
	for _, j := range picked {
		j.started = now
	}
}
