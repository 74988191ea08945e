package coordinator

import (
	"context"
	"encoding/json"
	"fmt"
	"slices"
	"strings"
	"sync"
	"time"

	clientv3 "go.etcd.io/etcd/client/v3"
	"google.golang.org/protobuf/types/known/timestamppb"

	pb "github.com/latexblend/latexblend/proto/latexblend/v1"
	"github.com/latexblend/latexblend/service"
	"github.com/latexblend/latexblend/trainer"
)

// lead runs while this replica is the leader: it reconciles on every etcd change of
// trainers, claims and jobs (and every ScheduleInterval), and sweeps orphaned uploads
// every JanitorInterval. ctx ends when the leadership does.
func (c *Coordinator) lead(ctx context.Context) {
	wake := make(chan struct{}, 1)
	var watchers sync.WaitGroup
	defer watchers.Wait()
	for _, prefix := range []string{service.RolePrefix(service.RoleTrainer), trainer.ClaimsPrefix, trainer.JobsPrefix} {
		watchers.Go(func() { watchPrefix(ctx, c.node.Etcd, prefix, wake) })
	}
	tick := time.NewTicker(c.cfg.ScheduleInterval)
	defer tick.Stop()
	janitor := time.NewTicker(c.cfg.JanitorInterval)
	defer janitor.Stop()
	cleaned := map[string]bool{}
	for {
		if err := c.reconcile(ctx, cleaned); err != nil && ctx.Err() == nil {
			c.log.Warn("reconcile failed", "err", err)
		}
		select {
		case <-ctx.Done():
			return
		case <-wake:
		case <-tick.C:
		case <-janitor.C:
			if err := c.sweepUploads(ctx); err != nil && ctx.Err() == nil {
				c.log.Warn("upload janitor failed", "err", err)
			}
		}
	}
}

// watchPrefix signals wake on every change under prefix until ctx ends. Progress and
// checkpoint records change every few steps and never need scheduling, so they are
// ignored.
func watchPrefix(ctx context.Context, cli *clientv3.Client, prefix string, wake chan<- struct{}) {
	for ctx.Err() == nil {
		for wr := range cli.Watch(clientv3.WithRequireLeader(ctx), prefix, clientv3.WithPrefix()) {
			relevant := len(wr.Events) == 0
			for _, ev := range wr.Events {
				k := string(ev.Kv.Key)
				relevant = relevant || !(strings.HasSuffix(k, "/progress") || strings.HasSuffix(k, "/checkpoint"))
			}
			if !relevant {
				continue
			}
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

// liveTrainer is a registered trainer as the leader sees it.
type liveTrainer struct {
	m         service.Member
	lease     clientv3.LeaseID
	createRev int64
}

// snapshot is the cluster state one reconcile pass works from.
type snapshot struct {
	trainers map[string]liveTrainer
	order    []string          // trainer ids, sorted
	claims   map[string]string // trainer id -> job id
	jobs     []*pb.Job
	jobRev   map[string]int64
	assign   map[string]trainer.Assignment
	reform   map[string]int64
}

func (c *Coordinator) readSnapshot(ctx context.Context) (*snapshot, error) {
	tr, err := c.node.Etcd.Txn(ctx).Then(
		clientv3.OpGet(service.RolePrefix(service.RoleTrainer), clientv3.WithPrefix()),
		clientv3.OpGet(trainer.ClaimsPrefix, clientv3.WithPrefix()),
		clientv3.OpGet(trainer.JobsPrefix, clientv3.WithPrefix()),
	).Commit()
	if err != nil {
		return nil, fmt.Errorf("read cluster state: %w", err)
	}
	s := &snapshot{trainers: map[string]liveTrainer{}, claims: map[string]string{}, jobRev: map[string]int64{},
		assign: map[string]trainer.Assignment{}, reform: map[string]int64{}}
	for _, kv := range tr.Responses[0].GetResponseRange().Kvs {
		var m service.Member
		if json.Unmarshal(kv.Value, &m) != nil {
			continue
		}
		m.ID = strings.TrimPrefix(string(kv.Key), service.RolePrefix(service.RoleTrainer))
		s.trainers[m.ID] = liveTrainer{m: m, lease: clientv3.LeaseID(kv.Lease), createRev: kv.CreateRevision}
		s.order = append(s.order, m.ID)
	}
	slices.Sort(s.order)
	for _, kv := range tr.Responses[1].GetResponseRange().Kvs {
		s.claims[strings.TrimPrefix(string(kv.Key), trainer.ClaimsPrefix)] = string(kv.Value)
	}
	for _, kv := range tr.Responses[2].GetResponseRange().Kvs {
		k := string(kv.Key)
		if id := trainer.JobIDFromKey(k); id != "" {
			j, err := trainer.UnmarshalJob(kv.Value)
			if err != nil {
				c.log.Warn("skipping unreadable job record", "key", k, "err", err)
				continue
			}
			s.jobs = append(s.jobs, j)
			s.jobRev[id] = kv.ModRevision
			continue
		}
		id, sub, _ := strings.Cut(strings.TrimPrefix(k, trainer.JobsPrefix), "/")
		switch sub {
		case "assignment":
			var a trainer.Assignment
			if json.Unmarshal(kv.Value, &a) == nil {
				s.assign[id] = a
			}
		case "reform":
			var g int64
			fmt.Sscan(string(kv.Value), &g)
			s.reform[id] = g
		}
	}
	return s, nil
}

// free lists the unclaimed live trainers whose base model matches, in id order.
func (s *snapshot) free(baseModel string) []string {
	var out []string
	for _, id := range s.order {
		if _, busy := s.claims[id]; !busy && s.trainers[id].m.BaseModelID == baseModel {
			out = append(out, id)
		}
	}
	return out
}

// matching counts the live trainers whose base model matches.
func (s *snapshot) matching(baseModel string) int {
	n := 0
	for _, id := range s.order {
		if s.trainers[id].m.BaseModelID == baseModel {
			n++
		}
	}
	return n
}

// reconcile is one pass of the leader: recover running jobs whose gang lost a member,
// start pending jobs in submission order when a whole gang is free, and clean up after
// ended jobs (once per job per leadership).
func (c *Coordinator) reconcile(ctx context.Context, cleaned map[string]bool) error {
	s, err := c.readSnapshot(ctx)
	if err != nil {
		return err
	}
	for _, j := range s.jobs {
		if j.Status.State == pb.JobState_JOB_STATE_RUNNING {
			if err := c.recover(ctx, s, j); err != nil {
				return err
			}
		}
	}
	blocked := map[string]bool{} // base models whose queue head is waiting
	for _, j := range s.jobs {
		switch st := j.Status.State; {
		case st == pb.JobState_JOB_STATE_PENDING:
			bm := j.Spec.BaseModelId
			if blocked[bm] || int(j.Spec.Workers) > s.matching(bm) {
				continue // too big for the cluster as it is: it waits without blocking others
			}
			gang := s.free(bm)
			if len(gang) < int(j.Spec.Workers) {
				blocked[bm] = true // FIFO: later jobs of this model wait behind it
				continue
			}
			if err := c.startGang(ctx, s, j, nil, gang[:j.Spec.Workers], "scheduled"); err != nil {
				return err
			}
		case trainer.Terminal(st) && !cleaned[j.Id]:
			if err := c.cleanupJob(ctx, j); err != nil {
				return err
			}
			cleaned[j.Id] = true
		}
	}
	return nil
}

// recover re-forms a running job's gang when a member is gone or the gang asked for a
// new generation: survivors keep their order, free trainers fill the gaps up to the
// job's size, and training resumes from the last checkpoint. Without any trainer left
// the job goes back to the queue.
func (c *Coordinator) recover(ctx context.Context, s *snapshot, j *pb.Job) error {
	a, ok := s.assign[j.Id]
	var survivors, lost []string
	for _, t := range a.Trainers {
		if _, alive := s.trainers[t]; alive && s.claims[t] == j.Id {
			survivors = append(survivors, t)
		} else {
			lost = append(lost, t)
		}
	}
	reform := ok && s.reform[j.Id] == a.Generation && a.Generation > 0
	if ok && len(lost) == 0 && !reform {
		return nil
	}
	var add []string
	for _, t := range s.free(j.Spec.BaseModelId) {
		if len(survivors)+len(add) >= int(j.Spec.Workers) {
			break
		}
		add = append(add, t)
	}
	why := fmt.Sprintf("trainers %v lost", lost)
	if len(lost) == 0 {
		why = "the ring broke"
	}
	if len(survivors)+len(add) == 0 {
		return c.requeue(ctx, s, j, why)
	}
	return c.startGang(ctx, s, j, survivors, add, why)
}

// startGang writes generation+1 of job j with gang keep+add in one transaction that
// claims every added trainer (its claim absent, its member record unchanged) and keeps
// the survivors' claims. Claims are bound to each trainer's own lease.
func (c *Coordinator) startGang(ctx context.Context, s *snapshot, j *pb.Job, keep, add []string, why string) error {
	gang := append(slices.Clone(keep), add...)
	gen := j.Status.Generation + 1
	a := trainer.Assignment{Job: j.Id, Generation: gen, Trainers: gang, Created: time.Now().UTC()}
	now := timestamppb.Now()
	st := j.Status
	st.State, st.Generation, st.TrainerIds, st.Updated, st.QueuePosition = pb.JobState_JOB_STATE_RUNNING, gen, gang, now, 0
	if st.Started == nil {
		st.Started = now
	}
	val, err := trainer.MarshalJob(j)
	if err != nil {
		return err
	}
	cmps := []clientv3.Cmp{clientv3.Compare(clientv3.ModRevision(trainer.JobKey(j.Id)), "=", s.jobRev[j.Id])}
	ops := []clientv3.Op{clientv3.OpPut(trainer.JobKey(j.Id), val), clientv3.OpPut(trainer.AssignmentKey(j.Id), trainer.MustJSON(a)),
		clientv3.OpDelete(trainer.ReformKey(j.Id))}
	for _, t := range keep {
		cmps = append(cmps, clientv3.Compare(clientv3.Value(trainer.ClaimKey(t)), "=", j.Id))
	}
	for _, t := range add {
		lt := s.trainers[t]
		cmps = append(cmps, clientv3.Compare(clientv3.CreateRevision(trainer.ClaimKey(t)), "=", 0),
			clientv3.Compare(clientv3.CreateRevision(service.MemberKey(service.RoleTrainer, t)), "=", lt.createRev))
		ops = append(ops, clientv3.OpPut(trainer.ClaimKey(t), j.Id, clientv3.WithLease(lt.lease)))
	}
	tr, err := c.node.Etcd.Txn(ctx).If(cmps...).Then(ops...).Commit()
	if err != nil {
		return fmt.Errorf("job %s: start generation %d: %w", j.Id, gen, err)
	}
	if !tr.Succeeded {
		c.log.Info("gang changed under the scheduler; retrying next pass", "job", j.Id)
		return nil
	}
	for _, t := range add {
		s.claims[t] = j.Id
	}
	s.jobRev[j.Id] = tr.Header.Revision
	c.log.Info("gang assigned", "job", j.Id, "generation", gen, "trainers", gang, "why", why)
	return nil
}

// requeue puts a running job that has no trainer left back into the queue; its
// generation and checkpoint stay, so it resumes when trainers return.
func (c *Coordinator) requeue(ctx context.Context, s *snapshot, j *pb.Job, why string) error {
	j.Status.State, j.Status.TrainerIds, j.Status.Updated = pb.JobState_JOB_STATE_PENDING, nil, timestamppb.Now()
	val, err := trainer.MarshalJob(j)
	if err != nil {
		return err
	}
	_, err = c.node.Etcd.Txn(ctx).If(clientv3.Compare(clientv3.ModRevision(trainer.JobKey(j.Id)), "=", s.jobRev[j.Id])).
		Then(clientv3.OpPut(trainer.JobKey(j.Id), val), clientv3.OpDelete(trainer.AssignmentKey(j.Id)), clientv3.OpDelete(trainer.ReformKey(j.Id))).Commit()
	if err != nil {
		return fmt.Errorf("job %s: requeue: %w", j.Id, err)
	}
	c.log.Warn("job requeued: no trainer left", "job", j.Id, "why", why)
	return nil
}
