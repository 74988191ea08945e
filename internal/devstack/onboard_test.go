package devstack_test

import (
	"bytes"
	"context"
	"image/png"
	"testing"
	"time"

	"google.golang.org/protobuf/proto"

	"github.com/latexblend/latexblend/coordinator"
	"github.com/latexblend/latexblend/internal/devstack"
	"github.com/latexblend/latexblend/internal/golden"
	pb "github.com/latexblend/latexblend/proto/latexblend/v1"
	"github.com/latexblend/latexblend/sampler"
	"github.com/latexblend/latexblend/service"
	"github.com/latexblend/latexblend/shapes"
)

// TestOnboardAndGenerateOnTinyModel is the mission end to end on the tiny reference
// model: two coordinators and three trainers; a concept job for two workers trains with
// the real Custom Diffusion runner over the NATS ring, lands in the concept bank, and a
// sampler generates with it through the routing client.
func TestOnboardAndGenerateOnTinyModel(t *testing.T) {
	model := golden.Path(t, "tiny-sdxl")
	ctx, cancel := context.WithTimeout(t.Context(), 6*time.Minute)
	defer cancel()
	st, err := devstack.Start(ctx, devstack.Config{Coordinators: 2, Trainers: 3, Samplers: 1, ModelDir: model})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { st.Close() }) // after the clients coordinatorClient registers

	api, datasets := coordinatorClient(ctx, t, st)
	samples, err := shapes.ConceptSet("checker-star", 4, 64)
	if err != nil {
		t.Fatal(err)
	}
	var images []coordinator.ImageFile
	for _, s := range samples {
		var b bytes.Buffer
		if err := png.Encode(&b, s.Image); err != nil {
			t.Fatal(err)
		}
		images = append(images, coordinator.ImageFile{Name: s.Name + ".png", Data: b.Bytes()})
	}
	job, err := coordinator.Submit(ctx, api, datasets, &pb.ConceptJobSpec{
		ConceptName: "checker-star", ClassNoun: "star", Steps: 3, Workers: 2, Resolution: 32, CheckpointEvery: 2, Seed: 7,
	}, images, nil)
	if err != nil {
		t.Fatal(err)
	}

	var last *pb.JobStatus
	gang := 0 // trainers seen on the job while it ran
	for {
		r, err := api.GetJob(ctx, &pb.GetJobRequest{JobId: job.Id})
		if err != nil {
			t.Fatal(err)
		}
		last = r.Job.Status
		if last.State == pb.JobState_JOB_STATE_RUNNING {
			gang = max(gang, len(last.TrainerIds))
		}
		if s := last.State; s == pb.JobState_JOB_STATE_DONE || s == pb.JobState_JOB_STATE_FAILED || s == pb.JobState_JOB_STATE_CANCELLED {
			break
		}
		if ctx.Err() != nil {
			t.Fatalf("job still %v at step %d when the test ran out of time", last.State, last.Step)
		}
		time.Sleep(50 * time.Millisecond)
	}
	if last.State != pb.JobState_JOB_STATE_DONE {
		t.Fatalf("job ended %v: %s", last.State, last.FailureReason)
	}
	if gang != 2 || last.Step != 3 {
		t.Errorf("job ran on %d trainers and ended at step %d (%+v); want 2 trainers and 3 steps", gang, last.Step, last)
	}
	concept, err := api.GetConcept(ctx, &pb.GetConceptRequest{Name: "checker-star"})
	if err != nil {
		t.Fatal(err)
	}
	if concept.Concept.ClassNoun != "star" || concept.Concept.BaseModelId != st.Trainers[0].Node().Config().BaseModelID {
		t.Errorf("bank entry %+v does not match the job", concept.Concept)
	}

	cli, err := service.NewEtcdClient(ctx, st.Cluster.EtcdEndpoints, 5*time.Second)
	if err != nil {
		t.Fatal(err)
	}
	defer cli.Close()
	router, err := sampler.NewRouter(sampler.RouterConfig{Etcd: cli, Client: service.ClientConfig{Token: st.Token}})
	if err != nil {
		t.Fatal(err)
	}
	defer router.Close()
	steps := 0
	res, err := router.Generate(ctx, &pb.GenerateRequest{
		Prompt: "a photo of a star", Steps: 2, Width: 32, Height: 32, NumImages: 1, Seed: proto.Uint64(1),
		Concepts: []*pb.ConceptBinding{{ClassNoun: "star", Concept: "checker-star"}},
	}, func(string, *pb.Progress) { steps++ })
	if err != nil {
		t.Fatal(err)
	}
	if len(res.Images) != 1 || steps == 0 {
		t.Fatalf("generate: %d images, %d progress events", len(res.Images), steps)
	}
	img, err := png.Decode(bytes.NewReader(res.Images[0]))
	if err != nil {
		t.Fatal(err)
	}
	if b := img.Bounds(); b.Dx() != 32 || b.Dy() != 32 {
		t.Errorf("image is %v, want 32x32", b)
	}
	t.Logf("job %s done on %d trainers, loss %.3f; generated %d bytes", job.Id, gang, last.Loss, len(res.Images[0]))
}
