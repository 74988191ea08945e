package coordinator_test

import (
	"context"
	"fmt"
	"io"
	"testing"
	"time"

	pb "github.com/latexblend/latexblend/proto/latexblend/v1"
	"github.com/latexblend/latexblend/trainer"
)

// A job of two workers runs on two of three trainers, trains (the loss falls), streams
// progress through WatchJob, registers its concept, deletes its checkpoints and keeps
// its delta; deleting the job removes its uploads.
func TestJobCompletesIntoConceptBank(t *testing.T) {
	ctx, cancel := context.WithTimeout(t.Context(), 60*time.Second)
	defer cancel()
	c := startCluster(t, ctx, clusterConfig{coordinators: 2, trainers: 3, stepDelay: 5 * time.Millisecond})
	job := c.submit(ctx, spec("mydog", 2, 40, 10), 4)
	if job.Status.State != pb.JobState_JOB_STATE_PENDING || len(job.Id) != 26 {
		t.Fatalf("submitted job = %v", job)
	}

	stream, err := c.api().WatchJob(ctx, &pb.WatchJobRequest{JobId: job.Id})
	if err != nil {
		t.Fatal(err)
	}
	var (
		updates  int
		sawSteps = map[int32]bool{}
		sawRate  bool
		last     *pb.Job
	)
	for {
		m, err := stream.Recv()
		if err == io.EOF {
			break
		}
		if err != nil {
			t.Fatalf("WatchJob: %v", err)
		}
		updates++
		last = m.Job
		if st := m.Job.Status; st.State == pb.JobState_JOB_STATE_RUNNING {
			sawSteps[st.Step] = true
			sawRate = sawRate || (st.StepsPerSec > 0 && st.Loss > 0 && st.LossAvg > 0)
		}
	}
	if last.Status.State != pb.JobState_JOB_STATE_DONE {
		t.Fatalf("watch ended with %v (%s)", last.Status.State, last.Status.FailureReason)
	}
	if !sawRate {
		t.Error("WatchJob never streamed steps/s, loss and its average")
	}
	if len(sawSteps) < 3 {
		t.Errorf("WatchJob streamed %d distinct running steps in %d updates, want progress", len(sawSteps), updates)
	}
	st := last.Status
	if st.Generation != 1 || st.Step != 40 || st.ConceptName != "mydog" || st.ConceptDigest == "" || st.Finished == nil {
		t.Errorf("final status = %v", st)
	}

	// The two ranks trained the same generation and the loss fell.
	runs := c.runner.snapshot(job.Id)
	if len(runs) != 2 {
		t.Fatalf("runs = %v, want 2 ranks of generation 1", runs)
	}
	for id, r := range runs {
		if !r.finished || r.size != 2 || r.lastLoss >= r.firstLoss/4 {
			t.Errorf("run %+v = %+v: want finished, size 2, loss falling by 4x", id, r)
		}
	}

	// The concept is in the bank and downloads with its digest.
	got, err := c.api().GetConcept(ctx, &pb.GetConceptRequest{Name: "mydog"})
	if err != nil {
		t.Fatal(err)
	}
	cn := got.Concept
	if cn.Digest != st.ConceptDigest || cn.ClassNoun != "dog" || cn.ModifierToken != "<new1>" || cn.NTok != 2 ||
		cn.BaseModelId != testBaseModel || cn.JobId != job.Id {
		t.Errorf("concept = %v", cn)
	}
	list, err := c.api().ListConcepts(ctx, &pb.ListConceptsRequest{})
	if err != nil || len(list.Concepts) != 1 {
		t.Fatalf("ListConcepts = %v, %v", list, err)
	}
	entry := download(t, ctx, c.api(), "mydog")
	if trainer.Digest(entry) != cn.Digest {
		t.Errorf("downloaded entry digest %s, registry %s", trainer.Digest(entry), cn.Digest)
	}
	if _, err := trainer.ParseEntry(entry); err != nil {
		t.Errorf("downloaded entry: %v", err)
	}

	// Checkpoints go away, the delta stays, the trainers are free.
	waitFor(t, 5*time.Second, func() error {
		if o := c.objects(ctx, trainer.BucketCheckpoints, job.Id); len(o) > 0 {
			return fmt.Errorf("checkpoints left: %v", o)
		}
		if k := c.keys(ctx, trainer.JobKey(job.Id)+"/"); len(k) != 1 { // progress stays for display
			return fmt.Errorf("job sub-records left: %v", k)
		}
		if cl := c.claims(ctx); len(cl) != 0 {
			return fmt.Errorf("claims left: %v", cl)
		}
		return nil
	})
	if o := c.objects(ctx, trainer.BucketDeltas, job.Id); len(o) != 1 {
		t.Errorf("deltas = %v, want the job's delta", o)
	}
	if k := c.keys(ctx, trainer.NamesPrefix); len(k) != 0 {
		t.Errorf("name reservations left: %v", k)
	}

	// jobs rm: the record and the uploaded images go, the concept stays.
	uploads := c.objects(ctx, trainer.BucketDatasets, "uploads/"+job.Spec.UploadId+"/")
	if len(uploads) != 4 {
		t.Fatalf("uploads = %v, want 4", uploads)
	}
	if _, err := c.api().DeleteJob(ctx, &pb.DeleteJobRequest{JobId: job.Id}); err != nil {
		t.Fatal(err)
	}
	if o := c.objects(ctx, trainer.BucketDatasets, "uploads/"+job.Spec.UploadId+"/"); len(o) != 0 {
		t.Errorf("uploads after DeleteJob: %v", o)
	}
	if k := c.keys(ctx, trainer.JobKey(job.Id)); len(k) != 0 {
		t.Errorf("job keys after DeleteJob: %v", k)
	}
	if _, err := c.api().GetConcept(ctx, &pb.GetConceptRequest{Name: "mydog"}); err != nil {
		t.Errorf("concept gone after DeleteJob: %v", err)
	}
}

func download(t *testing.T, ctx context.Context, api pb.CoordinatorClient, name string) []byte {
	t.Helper()
	s, err := api.DownloadConcept(ctx, &pb.DownloadConceptRequest{Name: name})
	if err != nil {
		t.Fatal(err)
	}
	var out []byte
	first := true
	for {
		m, err := s.Recv()
		if err == io.EOF {
			return out
		}
		if err != nil {
			t.Fatalf("DownloadConcept %s: %v", name, err)
		}
		if first != (m.GetConcept() != nil) {
			t.Fatalf("DownloadConcept message order: %v", m)
		}
		first = false
		out = append(out, m.GetChunk().GetData()...)
	}
}
