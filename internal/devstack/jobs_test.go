package devstack_test

import (
	"context"
	"strings"
	"testing"
	"time"

	"github.com/nats-io/nats.go/jetstream"

	"github.com/latexblend/latexblend/coordinator"
	"github.com/latexblend/latexblend/internal/devstack"
	pb "github.com/latexblend/latexblend/proto/latexblend/v1"
	"github.com/latexblend/latexblend/service"
)

// A dev stack whose trainers have no job runner (the Custom Diffusion runner is not in
// the binary yet) schedules a submitted job and fails it with a message that says so,
// freeing the trainer, instead of leaving it pending or running forever.
func TestJobWithoutRunnerFailsClearly(t *testing.T) {
	ctx, cancel := context.WithTimeout(t.Context(), 60*time.Second)
	defer cancel()
	st, err := devstack.Start(ctx, devstack.Config{Coordinators: 2, Trainers: 1})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { st.Close() }) // after the clients coordinatorClient registers
	if len(st.Coordinators) != 2 {
		t.Fatalf("%d coordinators, want 2", len(st.Coordinators))
	}
	api, datasets := coordinatorClient(ctx, t, st)
	png := []byte("\x89PNG\r\n\x1a\n\x00\x00\x00\rIHDR\x00\x00\x00\x01\x00\x00\x00\x01\x08\x06\x00\x00\x00\x1f\x15\xc4\x89\x00\x00\x00\rIDATx\x9cc\xf8\x0f\x00\x00\x01\x01\x00\x05\x18\xd8N\x00\x00\x00\x00IEND\xaeB`\x82")
	job, err := coordinator.Submit(ctx, api, datasets, &pb.ConceptJobSpec{ConceptName: "nodog", ClassNoun: "dog", Steps: 5},
		[]coordinator.ImageFile{{Name: "one.png", Data: png}}, nil)
	if err != nil {
		t.Fatal(err)
	}
	deadline := time.Now().Add(20 * time.Second)
	for {
		r, err := api.GetJob(ctx, &pb.GetJobRequest{JobId: job.Id})
		if err != nil {
			t.Fatal(err)
		}
		st := r.Job.Status
		if st.State == pb.JobState_JOB_STATE_FAILED {
			if !strings.Contains(st.FailureReason, "has no job runner") {
				t.Errorf("failure reason %q does not say the trainer cannot train", st.FailureReason)
			}
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("job is %v after 20 s, want FAILED", st.State)
		}
		time.Sleep(50 * time.Millisecond)
	}
	cs, err := api.ClusterStatus(ctx, &pb.ClusterStatusRequest{})
	if err != nil || cs.PendingJobs != 0 || cs.RunningJobs != 0 {
		t.Errorf("ClusterStatus after the failure = %v, %v", cs, err)
	}
}

// coordinatorClient connects to the stack's coordinator and to its `datasets` object
// store, as the CLI does to submit a job; both connections close when the test ends.
func coordinatorClient(ctx context.Context, t *testing.T, st *devstack.Stack) (pb.CoordinatorClient, jetstream.ObjectStore) {
	t.Helper()
	conn, err := service.Dial(st.Coordinator.Addr(), service.ClientConfig{Token: st.Token})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { conn.Close() })
	nc, js, err := st.Cluster.JetStream()
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(nc.Close)
	datasets, err := coordinator.OpenDatasets(ctx, js)
	if err != nil {
		t.Fatal(err)
	}
	return pb.NewCoordinatorClient(conn), datasets
}
