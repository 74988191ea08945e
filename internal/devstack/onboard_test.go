package devstack_test

import (
	"bytes"
	"context"
	"image/png"
	"strings"
	"testing"
	"time"

	"github.com/nats-io/nats.go/jetstream"

	"google.golang.org/protobuf/proto"

	"github.com/latexblend/latexblend/coordinator"
	"github.com/latexblend/latexblend/internal/devstack"
	"github.com/latexblend/latexblend/internal/golden"
	"github.com/latexblend/latexblend/model/sdxl"
	pb "github.com/latexblend/latexblend/proto/latexblend/v1"
	"github.com/latexblend/latexblend/sampler"
	"github.com/latexblend/latexblend/service"
	"github.com/latexblend/latexblend/shapes"
)

// TestOnboardAndGenerateOnTinyModel is the mission end to end on the tiny reference
// model: two coordinators and three trainers; two concept jobs for two workers (the
// reference's recipe, and token-only with a place-2 entry) train with the real Custom
// Diffusion runner over the NATS ring and land in the concept bank, and a sampler
// generates with both through the routing client.
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
	// The reference's recipe, and a token-only job whose entry holds rows for place 2.
	last, gang := onboard(ctx, t, api, datasets, "checker-star", &pb.ConceptJobSpec{
		ConceptName: "checker-star", ClassNoun: "star", Steps: 3, Workers: 2, Resolution: 32, CheckpointEvery: 2, Seed: 7,
	})
	if gang != 2 || last.Step != 3 {
		t.Errorf("job ran on %d trainers and ended at step %d (%+v); want 2 trainers and 3 steps", gang, last.Step, last)
	}
	if _, tokGang := onboard(ctx, t, api, datasets, "rainbow-ring", &pb.ConceptJobSpec{
		ConceptName: "rainbow-ring", ClassNoun: "ring", Steps: 3, Workers: 2, Resolution: 32, CheckpointEvery: 2, Seed: 7,
		LearningRate: 5e-3, TokenOnly: true, Places: 2, PlaceFillers: []string{"circle"},
	}); tokGang != 2 {
		t.Errorf("the token-only job ran on %d trainers, want 2", tokGang)
	}
	for _, want := range []struct {
		name, noun string
		places     int32
		tokenOnly  bool
	}{{"checker-star", "star", 1, false}, {"rainbow-ring", "ring", 2, true}} {
		concept, err := api.GetConcept(ctx, &pb.GetConceptRequest{Name: want.name})
		if err != nil {
			t.Fatal(err)
		}
		c := concept.Concept
		if c.ClassNoun != want.noun || c.BaseModelId != st.Trainers[0].Node().Config().BaseModelID || c.Places != want.places ||
			strings.Contains(c.RecipeJson, `"token_only":true`) != want.tokenOnly {
			t.Errorf("bank entry %+v does not match its job (want %d places, token_only %v)", c, want.places, want.tokenOnly)
		}
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
		Prompt: "a photo of a star and a ring", Steps: 2, Width: 32, Height: 32, NumImages: 1, Seed: proto.Uint64(1),
		Concepts: []*pb.ConceptBinding{{ClassNoun: "star", Concept: "checker-star"}, {ClassNoun: "ring", Concept: "rainbow-ring"}},
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
	// The ring is the prompt's second concept, so it takes its entry's place-2 rows.
	chunks, err := sdxl.ReadPNGText(bytes.NewReader(res.Images[0]))
	if err != nil {
		t.Fatal(err)
	}
	var md string
	for _, c := range chunks {
		if c.Key == sdxl.MetadataKey {
			md = c.Text
		}
	}
	if !strings.Contains(md, `"concept2_place":"2"`) {
		t.Errorf("the image's metadata does not record place 2 for the ring:\n%s", md)
	}
	t.Logf("jobs done on %d trainers, loss %.3f; generated %d bytes", gang, last.Loss, len(res.Images[0]))
}

// onboard submits a job training spec on the shapes world's concept set, waits for it
// to end, and returns its last status and the largest gang seen while it ran; it fails
// the test unless the job is DONE.
func onboard(ctx context.Context, t *testing.T, api pb.CoordinatorClient, datasets jetstream.ObjectStore, set string, spec *pb.ConceptJobSpec) (*pb.JobStatus, int) {
	t.Helper()
	samples, err := shapes.ConceptSet(set, 4, 64)
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
	job, err := coordinator.Submit(ctx, api, datasets, spec, images, nil)
	if err != nil {
		t.Fatal(err)
	}
	gang := 0
	for {
		r, err := api.GetJob(ctx, &pb.GetJobRequest{JobId: job.Id})
		if err != nil {
			t.Fatal(err)
		}
		last := r.Job.Status
		if last.State == pb.JobState_JOB_STATE_RUNNING {
			gang = max(gang, len(last.TrainerIds))
		}
		switch last.State {
		case pb.JobState_JOB_STATE_DONE:
			return last, gang
		case pb.JobState_JOB_STATE_FAILED, pb.JobState_JOB_STATE_CANCELLED:
			t.Fatalf("job %s (%s) ended %v: %s", job.Id, spec.ConceptName, last.State, last.FailureReason)
		}
		if ctx.Err() != nil {
			t.Fatalf("job %s (%s) still %v at step %d when the test ran out of time", job.Id, spec.ConceptName, last.State, last.Step)
		}
		time.Sleep(50 * time.Millisecond)
	}
}
