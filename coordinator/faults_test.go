package coordinator_test

import (
	"context"
	"fmt"
	"strings"
	"sync"
	"testing"
	"time"

	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"

	"github.com/latexblend/latexblend/coordinator"
	pb "github.com/latexblend/latexblend/proto/latexblend/v1"
	"github.com/latexblend/latexblend/trainer"
)

// watchEvents collects the non-empty events WatchJob streams for a job; the channel
// closes when the stream ends.
func watchEvents(t *testing.T, ctx context.Context, api pb.CoordinatorClient, id string) <-chan string {
	t.Helper()
	stream, err := api.WatchJob(ctx, &pb.WatchJobRequest{JobId: id})
	if err != nil {
		t.Fatal(err)
	}
	out := make(chan string, 1000)
	go func() {
		defer close(out)
		for {
			m, err := stream.Recv()
			if err != nil {
				return
			}
			if m.Event != "" {
				out <- m.Event
			}
		}
	}()
	return out
}

// stepTrigger fires once when a rank of generation gen reaches step.
func stepTrigger(r *lsqRunner, gen int64, step int) <-chan struct{} {
	fired := make(chan struct{})
	var once sync.Once
	r.onStep = func(_ string, g int64, _ int, s int) {
		if g == gen && s >= step {
			once.Do(func() { close(fired) })
		}
	}
	return fired
}

// Rank 0 of a two-trainer gang dies mid-job (its keepalive stops; the member record
// expires after the 2 s TTL): the leader forms generation 2 from the survivor and the
// free trainer, training resumes from the last checkpoint, and the job completes having
// lost at most one checkpoint interval of steps.
func TestTrainerKilledMidJob(t *testing.T) {
	ctx, cancel := context.WithTimeout(t.Context(), 60*time.Second)
	defer cancel()
	c := startCluster(t, ctx, clusterConfig{coordinators: 2, trainers: 3, stepDelay: 20 * time.Millisecond})
	const steps, every = 80, 10
	fired := stepTrigger(c.runner, 1, 25)
	job := c.submit(ctx, spec("elastic", 2, steps, every), 3)
	events := watchEvents(t, ctx, c.api(), job.Id)
	select {
	case <-fired:
	case <-ctx.Done():
		t.Fatal("job never reached step 25")
	}
	gen1 := c.job(ctx, job.Id).Status
	victim := gen1.TrainerIds[0]
	for _, tr := range c.trainers {
		if tr.Node().ID() == victim {
			tr.Crash()
		}
	}
	crashed := time.Now()
	waitFor(t, 15*time.Second, func() error {
		if g := c.job(ctx, job.Id).Status.Generation; g < 2 {
			return fmt.Errorf("generation %d", g)
		}
		return nil
	})
	t.Logf("generation 2 assigned %.2fs after the crash (member TTL 2 s)", time.Since(crashed).Seconds())

	done := c.waitState(ctx, job.Id, pb.JobState_JOB_STATE_DONE, 30*time.Second)
	t.Logf("job done %.2fs after the crash", time.Since(crashed).Seconds())
	if done.Status.Generation != 2 {
		t.Errorf("final generation %d, want 2 (one re-formation)", done.Status.Generation)
	}
	var sawBump bool
	for e := range events {
		sawBump = sawBump || strings.HasPrefix(e, "generation 2: ring re-formed with 2 trainers, resuming from step")
	}
	if !sawBump {
		t.Error("WatchJob streamed no generation-2 event")
	}
	runs := c.runner.snapshot(job.Id)
	lastGen1 := 0
	var gen2 []runRecord
	for id, r := range runs {
		switch id.gen {
		case 1:
			lastGen1 = max(lastGen1, r.lastStep)
		case 2:
			gen2 = append(gen2, r)
		}
	}
	if len(gen2) != 2 {
		t.Fatalf("generation 2 ran on %d ranks, want 2: %v", len(gen2), runs)
	}
	for _, r := range gen2 {
		lost := lastGen1 - r.resumed
		if r.resumed == 0 || lost < 0 || lost > every || !r.finished || r.size != 2 {
			t.Errorf("generation 2 rank %+v: resumed at step %d after generation 1 reached %d (lost %d, limit %d)", r, r.resumed, lastGen1, lost, every)
		}
	}
	cn, err := c.api().GetConcept(ctx, &pb.GetConceptRequest{Name: "elastic"})
	if err != nil || cn.Concept.JobId != job.Id {
		t.Fatalf("concept after recovery: %v, %v", cn, err)
	}
	// Generation 2 is the survivor (now rank 0) plus the trainer that was free.
	survivor := gen1.TrainerIds[1]
	for id, r := range runs {
		if id.gen == 2 && (r.trainer == victim || (id.rank == 0) != (r.trainer == survivor)) {
			t.Errorf("generation 2 rank %d ran on trainer %s (victim %s, survivor %s)", id.rank, r.trainer, victim, survivor)
		}
	}
}

// The leader coordinator is killed mid-job (no resignation: its election lease
// expires). Training goes on, the standby takes over, cleans up after the finished job
// and schedules the job that was queued behind it.
func TestLeaderKilledMidJob(t *testing.T) {
	ctx, cancel := context.WithTimeout(t.Context(), 60*time.Second)
	defer cancel()
	c := startCluster(t, ctx, clusterConfig{coordinators: 2, trainers: 3, stepDelay: 20 * time.Millisecond})
	fired := stepTrigger(c.runner, 1, 15)
	first := c.submit(ctx, spec("first", 2, 60, 10), 2)
	second := c.submit(ctx, spec("second", 2, 20, 10), 2)
	select {
	case <-fired:
	case <-ctx.Done():
		t.Fatal("first job never reached step 15")
	}
	if st := c.job(ctx, second.Id).Status; st.State != pb.JobState_JOB_STATE_PENDING || st.QueuePosition != 0 {
		t.Fatalf("second job %v at queue position %d, want pending at 0 (one free trainer, needs 2)", st.State, st.QueuePosition)
	}
	old := c.leader()
	c.coords[old].Crash()
	c.dead[old] = true
	killed := time.Now()
	waitFor(t, 15*time.Second, func() error {
		if l := c.leader(); l < 0 || l == old {
			return fmt.Errorf("no new leader")
		}
		return nil
	})
	t.Logf("standby leads %.2fs after the leader was killed (election TTL 2 s)", time.Since(killed).Seconds())

	c.waitState(ctx, first.Id, pb.JobState_JOB_STATE_DONE, 30*time.Second)
	c.waitState(ctx, second.Id, pb.JobState_JOB_STATE_DONE, 30*time.Second)
	if l := c.leader(); l < 0 || l == old {
		t.Fatalf("leader after the crash = %d, want the standby", l)
	}
	t.Logf("both jobs done %.1fs after the leader was killed", time.Since(killed).Seconds())
	waitFor(t, 5*time.Second, func() error {
		if o := c.objects(ctx, trainer.BucketCheckpoints, ""); len(o) != 0 {
			return fmt.Errorf("checkpoints left: %v", o)
		}
		return nil
	})
	for _, name := range []string{"first", "second"} {
		if _, err := c.api().GetConcept(ctx, &pb.GetConceptRequest{Name: name}); err != nil {
			t.Errorf("concept %s: %v", name, err)
		}
	}
}

// Cancelling a running job stops its trainers and frees them: a job that needs every
// trainer, queued meanwhile without holding a partial gang, then runs.
func TestCancelFreesTrainers(t *testing.T) {
	ctx, cancel := context.WithTimeout(t.Context(), 60*time.Second)
	defer cancel()
	c := startCluster(t, ctx, clusterConfig{coordinators: 1, trainers: 3, stepDelay: 10 * time.Millisecond})
	fired := stepTrigger(c.runner, 1, 5)
	long := c.submit(ctx, spec("long", 2, 5000, 100), 2)
	select {
	case <-fired:
	case <-ctx.Done():
		t.Fatal("long job never started")
	}
	cs, err := c.api().ClusterStatus(ctx, &pb.ClusterStatusRequest{})
	if err != nil {
		t.Fatal(err)
	}
	busy := 0
	for _, m := range cs.Members {
		if m.JobId == long.Id {
			busy++
		}
	}
	if busy != 2 || cs.RunningJobs != 1 {
		t.Errorf("ClusterStatus shows %d trainers on the running job and %d running jobs, want 2 and 1", busy, cs.RunningJobs)
	}
	wide := c.submit(ctx, spec("wide", 3, 20, 10), 3)
	for range 3 { // the wide job must never hold the one free trainer
		time.Sleep(150 * time.Millisecond)
		for tr, j := range c.claims(ctx) {
			if j == wide.Id {
				t.Fatalf("pending job %s holds a partial gang (trainer %s)", wide.Id, tr)
			}
		}
	}
	resp, err := c.api().CancelJob(ctx, &pb.CancelJobRequest{JobId: long.Id, Reason: "test"})
	if err != nil {
		t.Fatal(err)
	}
	if st := resp.Job.Status; st.State != pb.JobState_JOB_STATE_CANCELLED || st.FailureReason != "cancelled: test" || len(st.TrainerIds) != 0 {
		t.Fatalf("cancelled job status = %v", st)
	}
	// The long job's ranks stop.
	waitFor(t, 5*time.Second, func() error {
		before := c.runner.snapshot(long.Id)
		time.Sleep(100 * time.Millisecond)
		after := c.runner.snapshot(long.Id)
		for id, r := range after {
			if r.lastStep != before[id].lastStep {
				return fmt.Errorf("rank %d still training (step %d)", id.rank, r.lastStep)
			}
		}
		return nil
	})
	done := c.waitState(ctx, wide.Id, pb.JobState_JOB_STATE_DONE, 20*time.Second)
	if len(c.runner.snapshot(wide.Id)) != 3 {
		t.Errorf("wide job ran on %v", c.runner.snapshot(wide.Id))
	}
	if r, err := c.api().CancelJob(ctx, &pb.CancelJobRequest{JobId: wide.Id}); err != nil || r.Job.Status.State != pb.JobState_JOB_STATE_DONE {
		t.Errorf("cancelling a done job = %v, %v; want it unchanged", r, err)
	}
	if _, err := c.api().GetConcept(ctx, &pb.GetConceptRequest{Name: "long"}); err == nil {
		t.Error("the cancelled job produced a concept")
	}
	if done.Status.Generation != 1 {
		t.Errorf("wide job generation %d, want 1", done.Status.Generation)
	}
	if got := c.objects(ctx, trainer.BucketCheckpoints, long.Id); len(got) != 0 {
		t.Errorf("cancelled job's checkpoints left: %v", got)
	}
	waitFor(t, 5*time.Second, func() error {
		if cl := c.claims(ctx); len(cl) != 0 {
			return fmt.Errorf("claims left: %v", cl)
		}
		return nil
	})
}

// Trainers only take jobs for their own base model: a job for another model waits
// without claiming anyone or blocking the queue, and a job without one is given the
// trainers' model at submission.
func TestBaseModelMatching(t *testing.T) {
	ctx, cancel := context.WithTimeout(t.Context(), 60*time.Second)
	defer cancel()
	c := startCluster(t, ctx, clusterConfig{coordinators: 1, trainers: 2, stepDelay: time.Millisecond})
	other := spec("elsewhere", 1, 10, 5)
	other.BaseModelId = "another-model"
	foreign := c.submit(ctx, other, 1)
	ours := c.submit(ctx, spec("ours", 2, 10, 5), 1)
	if ours.Spec.BaseModelId != testBaseModel {
		t.Errorf("resolved base model %q, want the trainers' %q", ours.Spec.BaseModelId, testBaseModel)
	}
	c.waitState(ctx, ours.Id, pb.JobState_JOB_STATE_DONE, 20*time.Second)
	if st := c.job(ctx, foreign.Id).Status; st.State != pb.JobState_JOB_STATE_PENDING || st.Generation != 0 {
		t.Errorf("job for another base model: %v generation %d, want pending and never run", st.State, st.Generation)
	}
	for tr, j := range c.claims(ctx) {
		t.Errorf("trainer %s claimed by %s", tr, j)
	}
	cs, err := c.api().ClusterStatus(ctx, &pb.ClusterStatusRequest{})
	if err != nil || cs.PendingJobs != 1 || cs.RunningJobs != 0 || cs.Concepts != 1 {
		t.Errorf("ClusterStatus = %v, %v; want 1 pending job and 1 concept", cs, err)
	}

	// Paging, newest first.
	p1, err := c.api().ListJobs(ctx, &pb.ListJobsRequest{PageSize: 1})
	if err != nil || len(p1.Jobs) != 1 || p1.Jobs[0].Id != ours.Id || p1.NextPageToken == "" {
		t.Fatalf("first page = %v, %v", p1, err)
	}
	p2, err := c.api().ListJobs(ctx, &pb.ListJobsRequest{PageSize: 1, PageToken: p1.NextPageToken})
	if err != nil || len(p2.Jobs) != 1 || p2.Jobs[0].Id != foreign.Id || p2.NextPageToken != "" {
		t.Fatalf("second page = %v, %v", p2, err)
	}
	pend, err := c.api().ListJobs(ctx, &pb.ListJobsRequest{States: []pb.JobState{pb.JobState_JOB_STATE_PENDING}})
	if err != nil || len(pend.Jobs) != 1 || pend.Jobs[0].Id != foreign.Id {
		t.Fatalf("pending jobs = %v, %v", pend, err)
	}

	// A pending job cannot be deleted; cancelled, it releases its concept name.
	if _, err := c.api().DeleteJob(ctx, &pb.DeleteJobRequest{JobId: foreign.Id}); status.Code(err) != codes.FailedPrecondition {
		t.Errorf("DeleteJob of a pending job: %v, want FailedPrecondition", err)
	}
	if r, err := c.api().CancelJob(ctx, &pb.CancelJobRequest{JobId: foreign.Id}); err != nil || r.Job.Status.State != pb.JobState_JOB_STATE_CANCELLED {
		t.Fatalf("CancelJob of a pending job = %v, %v", r, err)
	}
	again := spec("elsewhere", 1, 10, 5)
	again.BaseModelId = "another-model"
	c.submit(ctx, again, 1)

	// Retraining a concept replaces it only when asked to; the old entry object goes.
	before, err := c.api().GetConcept(ctx, &pb.GetConceptRequest{Name: "ours"})
	if err != nil {
		t.Fatal(err)
	}
	retrain := spec("ours", 1, 10, 5)
	retrain.Seed = 99
	if _, err := coordinator.Submit(ctx, c.api(), c.buckets[trainer.BucketDatasets], retrain, testImages(t, 1), nil); status.Code(err) != codes.AlreadyExists {
		t.Fatalf("retraining without replace: %v, want AlreadyExists", err)
	}
	retrain.Replace = true
	rj := c.submit(ctx, retrain, 1)
	c.waitState(ctx, rj.Id, pb.JobState_JOB_STATE_DONE, 20*time.Second)
	after, err := c.api().GetConcept(ctx, &pb.GetConceptRequest{Name: "ours"})
	if err != nil || after.Concept.Digest == before.Concept.Digest || after.Concept.JobId != rj.Id {
		t.Fatalf("replaced concept = %v, %v (before %s)", after, err, before.Concept.Digest)
	}
	if o := c.objects(ctx, trainer.BucketConcepts, "ours/"); len(o) != 1 || !strings.HasSuffix(o[0], strings.TrimPrefix(after.Concept.Digest, "sha256:")) {
		t.Errorf("entry objects after the replacement: %v", o)
	}
}

// When the only trainer of a running job dies and no other is free, the job goes back
// to the queue keeping its generation and checkpoint; a trainer that joins later
// resumes it from that checkpoint.
func TestJobRequeuedWhenGangIsGone(t *testing.T) {
	ctx, cancel := context.WithTimeout(t.Context(), 60*time.Second)
	defer cancel()
	c := startCluster(t, ctx, clusterConfig{coordinators: 1, trainers: 1, stepDelay: 20 * time.Millisecond})
	fired := stepTrigger(c.runner, 1, 12)
	job := c.submit(ctx, spec("lonely", 1, 40, 5), 1)
	select {
	case <-fired:
	case <-ctx.Done():
		t.Fatal("job never reached step 12")
	}
	c.trainers[0].Crash()
	st := c.waitState(ctx, job.Id, pb.JobState_JOB_STATE_PENDING, 10*time.Second).Status
	if st.Generation != 1 || st.CheckpointStep < 10 || len(st.TrainerIds) != 0 {
		t.Fatalf("requeued job status = %v, want generation 1 kept with its checkpoint", st)
	}
	c.addTrainer(ctx)
	done := c.waitState(ctx, job.Id, pb.JobState_JOB_STATE_DONE, 20*time.Second)
	if done.Status.Generation != 2 {
		t.Errorf("generation %d, want 2", done.Status.Generation)
	}
	for id, r := range c.runner.snapshot(job.Id) {
		if id.gen == 2 && r.resumed != int(st.CheckpointStep) {
			t.Errorf("generation 2 resumed at %d, want the checkpoint at %d", r.resumed, st.CheckpointStep)
		}
	}
}
