package trainer

import (
	"context"
	"sync"
	"time"

	clientv3 "go.etcd.io/etcd/client/v3"
)

// runKey identifies one generation of one job.
type runKey struct {
	job string
	gen int64
}

// activeRun is the job generation this node is executing.
type activeRun struct {
	key    runKey
	cancel context.CancelFunc
	done   chan struct{}
}

func (r *activeRun) stop() {
	r.cancel()
	<-r.done
}

// loop follows the node's claim and its job's assignment and keeps exactly the assigned
// generation running: a new generation or a lost claim stops the current run first.
func (s *Service) loop(ctx context.Context) {
	cli, id := s.node.Etcd, s.node.ID()
	wake := make(chan struct{}, 1)
	var watchers sync.WaitGroup
	defer watchers.Wait()
	watchers.Go(func() { watchKey(ctx, cli, ClaimKey(id), wake) })
	var (
		cur         *activeRun
		ended       runKey // last generation that ran to its end here; not restarted
		watchedJob  string
		stopWatcher context.CancelFunc = func() {}
	)
	defer func() {
		stopWatcher()
		if cur != nil {
			cur.stop()
		}
	}()
	tick := time.NewTicker(s.cfg.PollInterval)
	defer tick.Stop()
	for {
		want, a, rev, ok, err := s.desired(ctx)
		if err != nil {
			if ctx.Err() == nil {
				s.node.Log.Warn("reading assignment failed", "err", err)
			}
			want, ok = cur.keyOr(), false
		}
		if want.job != watchedJob {
			stopWatcher()
			stopWatcher, watchedJob = func() {}, want.job
			if want.job != "" {
				wctx, cancel := context.WithCancel(ctx)
				stopWatcher = cancel
				key := AssignmentKey(want.job)
				watchers.Go(func() { watchKey(wctx, cli, key, wake) })
			}
		}
		if cur != nil && cur.key != want {
			cur.stop()
			cur = nil
		}
		if cur == nil && ok && want != ended {
			rctx, cancel := context.WithCancel(ctx)
			cur = &activeRun{key: want, cancel: cancel, done: make(chan struct{})}
			go func(r *activeRun) {
				defer close(r.done)
				s.execute(rctx, a, rev)
			}(cur)
		}
		var done <-chan struct{}
		if cur != nil {
			done = cur.done
		}
		select {
		case <-ctx.Done():
			return
		case <-wake:
		case <-tick.C:
		case <-done:
			ended = cur.key
			cur.cancel()
			cur = nil
		}
	}
}

// desired reads the node's claim and its job's assignment. ok is false when the node is
// free or not (yet) in the job's gang; want.job is set whenever a claim exists.
func (s *Service) desired(ctx context.Context) (want runKey, a Assignment, rev int64, ok bool, err error) {
	cli, id := s.node.Etcd, s.node.ID()
	resp, err := cli.Get(ctx, ClaimKey(id))
	if err != nil {
		return runKey{}, a, 0, false, err
	}
	if len(resp.Kvs) == 0 {
		return runKey{}, a, 0, false, nil
	}
	want.job = string(resp.Kvs[0].Value)
	found, rev, err := GetJSON(ctx, cli, AssignmentKey(want.job), &a)
	if err != nil || !found || a.Rank(id) < 0 {
		return want, a, 0, false, err
	}
	want.gen = a.Generation
	return want, a, rev, true, nil
}

// keyOr is the run's key, or the zero key for no run: what a failed read keeps wanting.
func (r *activeRun) keyOr() runKey {
	if r == nil {
		return runKey{}
	}
	return r.key
}

// watchKey signals wake on every change of key until ctx ends, re-establishing the watch
// when etcd drops it.
func watchKey(ctx context.Context, cli *clientv3.Client, key string, wake chan<- struct{}) {
	for ctx.Err() == nil {
		for range cli.Watch(clientv3.WithRequireLeader(ctx), key) {
			select {
			case wake <- struct{}{}:
			default:
			}
		}
		select {
		case <-ctx.Done():
		case <-time.After(100 * time.Millisecond):
		}
	}
}
