package trainer

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"time"

	clientv3 "go.etcd.io/etcd/client/v3"
	"google.golang.org/protobuf/types/known/timestamppb"

	"github.com/latexblend/latexblend/allreduce"
	pb "github.com/latexblend/latexblend/proto/latexblend/v1"
)

// finishTimeout bounds publishing rank 0's result.
const finishTimeout = 30 * time.Second

// ringFailures are the allreduce failure kinds after which the gang re-forms instead of
// the job failing.
var ringFailures = []error{allreduce.ErrPeerLost, allreduce.ErrTimeout, allreduce.ErrGenerationChanged,
	allreduce.ErrTransport, allreduce.ErrClosed, allreduce.ErrMismatch}

func isRingFailure(err error) bool {
	for _, k := range ringFailures {
		if errors.Is(err, k) {
			return true
		}
	}
	return false
}

// execute runs one generation of a job on this node: join the ring, run the JobRunner,
// and on rank 0 publish the result. It returns when the run ends or ctx is cancelled
// (the claim went away or a newer generation was assigned).
func (s *Service) execute(ctx context.Context, a Assignment, assignRev int64) {
	cli, id := s.node.Etcd, s.node.ID()
	rank := a.Rank(id)
	log := s.node.Log.With("job", a.Job, "gen", a.Generation, "rank", rank, "size", len(a.Trainers))
	resp, err := cli.Get(ctx, JobKey(a.Job))
	if err != nil || len(resp.Kvs) == 0 {
		if ctx.Err() == nil {
			// Without this rank the gang cannot join: ask for a new generation.
			log.Warn("job record unreadable", "err", err)
			s.requestReform(ctx, a, assignRev)
		}
		return
	}
	job, err := UnmarshalJob(resp.Kvs[0].Value)
	if err != nil {
		log.Error("job record undecodable", "err", err)
		s.failJob(ctx, a, assignRev, fmt.Sprintf("trainer %s cannot decode the job record: %v", id, err))
		return
	}
	if Terminal(job.Status.GetState()) {
		return
	}
	if s.cfg.Runner == nil {
		s.failJob(ctx, a, assignRev, fmt.Sprintf("trainer %s has no job runner: this binary cannot train concepts yet", id))
		return
	}
	log.Info("joining ring")
	// A rank that never shows up (it failed before joining) must not stall the gang
	// forever: after RingTimeout the others ask for a new generation.
	jctx, cancelJoin := context.WithTimeout(ctx, s.cfg.RingTimeout)
	ring, err := allreduce.Join(jctx, s.nc, allreduce.Config{Job: a.Job, Generation: uint64(a.Generation), Rank: rank,
		Size: len(a.Trainers), Timeout: s.cfg.RingTimeout, Logger: log})
	cancelJoin()
	if err != nil {
		if ctx.Err() == nil {
			log.Warn("joining ring failed", "err", err)
			s.requestReform(ctx, a, assignRev)
		}
		return
	}
	defer ring.Close()
	jc := &JobContext{
		JobID: a.Job, TrainerID: id, Spec: job.Spec, Rank: rank, Size: len(a.Trainers), Generation: a.Generation, Ring: ring,
		BaseModelID: s.cfg.Node.BaseModelID,
		Data:        &objectDataset{spec: job.Spec, store: s.buckets[BucketDatasets]},
		Checkpoints: &etcdCheckpoints{cli: cli, store: s.buckets[BucketCheckpoints], job: a.Job, rank: rank,
			gen: a.Generation, assignRev: assignRev},
		Progress: &etcdProgress{ctx: ctx, cli: cli, log: log, job: a.Job, gen: a.Generation, rank: rank,
			total: int(job.Spec.GetSteps()), interval: s.cfg.ProgressInterval},
		Log: log,
	}
	res, err := s.cfg.Runner.Run(ctx, jc)
	switch {
	case ctx.Err() != nil:
		log.Info("run stopped", "cause", context.Cause(ctx))
	case err != nil && isRingFailure(err):
		log.Warn("ring broke; waiting for the next generation", "err", err)
		s.requestReform(ctx, a, assignRev)
	case err != nil:
		s.failJob(ctx, a, assignRev, fmt.Sprintf("rank %d (trainer %s): %v", rank, id, err))
	case rank == 0:
		// Registering the result deletes this node's claim, which cancels ctx through the
		// assignment loop: finish on a context of its own so that the cancellation cannot
		// cut the transaction's answer short.
		fctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), finishTimeout)
		defer cancel()
		if err := s.finish(fctx, a, assignRev, res); err != nil {
			s.failJob(fctx, a, assignRev, err.Error())
		}
	}
}

// requestReform asks the leader for a new generation of the same job after the ring
// broke while every member may still be alive.
func (s *Service) requestReform(ctx context.Context, a Assignment, assignRev int64) {
	if s.crashed.Load() {
		return
	}
	_, err := s.node.Etcd.Txn(ctx).If(clientv3.Compare(clientv3.ModRevision(AssignmentKey(a.Job)), "=", assignRev)).
		Then(clientv3.OpPut(ReformKey(a.Job), fmt.Sprint(a.Generation))).Commit()
	if err != nil && ctx.Err() == nil {
		s.node.Log.Warn("reform request failed", "job", a.Job, "err", err)
	}
}

// releaseOps ends a job's gang: its assignment, reform request and every claim.
func releaseOps(a Assignment) []clientv3.Op {
	ops := []clientv3.Op{clientv3.OpDelete(AssignmentKey(a.Job)), clientv3.OpDelete(ReformKey(a.Job))}
	for _, t := range a.Trainers {
		ops = append(ops, clientv3.OpDelete(ClaimKey(t)))
	}
	return ops
}

// failJob marks the job FAILED with reason, if the node's generation is still current
// (and this node is not crashing).
func (s *Service) failJob(ctx context.Context, a Assignment, assignRev int64, reason string) {
	if s.crashed.Load() {
		return
	}
	guard := []clientv3.Cmp{clientv3.Compare(clientv3.ModRevision(AssignmentKey(a.Job)), "=", assignRev)}
	_, ok, err := UpdateJob(ctx, s.node.Etcd, a.Job, guard, func(j *pb.Job) ([]clientv3.Op, bool, error) {
		if Terminal(j.Status.GetState()) {
			return nil, false, nil
		}
		now := timestamppb.Now()
		j.Status.State, j.Status.FailureReason, j.Status.Updated, j.Status.Finished = pb.JobState_JOB_STATE_FAILED, reason, now, now
		j.Status.TrainerIds = nil
		return append(releaseOps(a), clientv3.OpDelete(NameKey(j.Spec.GetConceptName()))), true, nil
	})
	if err != nil && ctx.Err() == nil {
		s.node.Log.Error("marking job failed", "job", a.Job, "reason", reason, "err", err)
	} else if ok {
		s.node.Log.Warn("job failed", "job", a.Job, "reason", reason)
	}
}

// finish publishes rank 0's result: the entry goes to the concepts bucket and the delta
// to the deltas bucket, then one etcd transaction registers the concept, marks the job
// DONE and releases the gang. If the job changed meanwhile (cancelled, re-formed) the
// uploaded objects are removed again.
func (s *Service) finish(ctx context.Context, a Assignment, assignRev int64, res *Result) error {
	if res == nil || len(res.Entry) == 0 {
		return errors.New("rank 0's runner returned no concept entry")
	}
	info, err := ParseEntry(res.Entry)
	if err != nil {
		return fmt.Errorf("rank 0 produced a bad entry: %w", err)
	}
	cli := s.node.Etcd
	resp, err := cli.Get(ctx, JobKey(a.Job))
	if err != nil || len(resp.Kvs) == 0 {
		return fmt.Errorf("job %s unreadable: %v", a.Job, err)
	}
	job, err := UnmarshalJob(resp.Kvs[0].Value)
	if err != nil {
		return err
	}
	spec := job.Spec
	switch {
	case info.ClassNoun != spec.GetClassNoun():
		return fmt.Errorf("rank 0 produced an entry for class noun %q, the job trains %q", info.ClassNoun, spec.GetClassNoun())
	case spec.GetBaseModelId() != "" && info.BaseModelID != spec.GetBaseModelId():
		return fmt.Errorf("rank 0 produced an entry for base model %s, the job is for %s", info.BaseModelID, spec.GetBaseModelId())
	}
	digest := Digest(res.Entry)
	name := spec.GetConceptName()
	rec := ConceptRecord{
		Name: name, Object: name + "/" + strings.TrimPrefix(digest, "sha256:"), Digest: digest, Size: int64(len(res.Entry)),
		ClassNoun: info.ClassNoun, ModifierToken: info.ModifierToken, NTok: info.NTok, BaseModelID: info.BaseModelID,
		JobID: a.Job, Recipe: info.Recipe, Created: time.Now().UTC(), Places: info.Places,
	}
	concepts, deltas := s.buckets[BucketConcepts], s.buckets[BucketDeltas]
	if _, err := concepts.PutBytes(ctx, rec.Object, res.Entry); err != nil {
		return fmt.Errorf("store entry %s: %w", rec.Object, err)
	}
	if len(res.Delta) > 0 {
		if _, err := deltas.PutBytes(ctx, a.Job, res.Delta); err != nil {
			concepts.Delete(context.WithoutCancel(ctx), rec.Object)
			return fmt.Errorf("store delta %s: %w", a.Job, err)
		}
	}
	var old ConceptRecord
	hadOld, oldRev, err := GetJSON(ctx, cli, ConceptKey(name), &old)
	if err != nil {
		return err
	}
	guards := []clientv3.Cmp{
		clientv3.Compare(clientv3.ModRevision(AssignmentKey(a.Job)), "=", assignRev),
		clientv3.Compare(clientv3.ModRevision(ConceptKey(name)), "=", oldRev),
	}
	var nameTaken bool
	_, ok, err := UpdateJob(ctx, cli, a.Job, guards, func(j *pb.Job) ([]clientv3.Op, bool, error) {
		if Terminal(j.Status.GetState()) {
			return nil, false, nil
		}
		if hadOld && !j.Spec.GetReplace() {
			nameTaken = true
			return nil, false, nil
		}
		now := timestamppb.Now()
		st := j.Status
		st.State, st.Updated, st.Finished = pb.JobState_JOB_STATE_DONE, now, now
		st.ConceptName, st.ConceptDigest, st.Step, st.TrainerIds = name, digest, st.TotalSteps, nil
		ops := append(releaseOps(a), clientv3.OpPut(ConceptKey(name), MustJSON(rec)), clientv3.OpDelete(NameKey(name)))
		return ops, true, nil
	})
	if err != nil || !ok {
		// After an error the transaction may still have been applied: keep the objects
		// when the registry points at them.
		var now ConceptRecord
		if found, _, gerr := GetJSON(ctx, cli, ConceptKey(name), &now); err == nil || (gerr == nil && (!found || now.Object != rec.Object)) {
			concepts.Delete(ctx, rec.Object)
			deltas.Delete(ctx, a.Job)
		}
		switch {
		case err != nil:
			return fmt.Errorf("register concept %s: %w", name, err)
		case nameTaken:
			return fmt.Errorf("concept name %q was taken while the job trained (and replace was not asked for)", name)
		}
		s.node.Log.Info("job changed before its result was registered; result dropped", "job", a.Job)
		return nil
	}
	if hadOld && old.Object != rec.Object {
		concepts.Delete(ctx, old.Object)
	}
	s.node.Log.Info("concept registered", "job", a.Job, "concept", name, "digest", digest, "bytes", rec.Size)
	return nil
}
