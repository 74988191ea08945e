package trainer

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"testing"

	"github.com/latexblend/latexblend/blend"
	pb "github.com/latexblend/latexblend/proto/latexblend/v1"
)

// memImages serves files of a folder as a job's images.
type memImages struct {
	inst, reg []*pb.ImageRef
	files     map[string][]byte
}

func (m *memImages) Instance() []*pb.ImageRef       { return m.inst }
func (m *memImages) Regularization() []*pb.ImageRef { return m.reg }
func (m *memImages) Fetch(_ context.Context, ref *pb.ImageRef) ([]byte, error) {
	b, ok := m.files[ref.GetObject()]
	if !ok {
		return nil, fmt.Errorf("object %s missing", ref.GetObject())
	}
	return b, nil
}

// memCheckpoints keeps the last checkpoint in memory.
type memCheckpoints struct {
	mu    sync.Mutex
	step  int
	data  []byte
	saves []int
}

func (c *memCheckpoints) Save(_ context.Context, step int, data []byte) error {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.step, c.data = step, data
	c.saves = append(c.saves, step)
	return nil
}

func (c *memCheckpoints) Load(context.Context) (int, []byte, error) {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.step, c.data, nil
}

type stepLog struct{ steps []int }

func (s *stepLog) Report(step int, loss float32) { s.steps = append(s.steps, step) }

// testJobImages are two instance images and one captioned regularization image.
func testJobImages(t *testing.T) *memImages {
	t.Helper()
	imgs := &memImages{files: map[string][]byte{}}
	for i, p := range writeTestImages(t, t.TempDir(), 3, 64, 72, 21) {
		b, _ := os.ReadFile(p)
		ref := &pb.ImageRef{Object: fmt.Sprintf("uploads/x/%d.png", i), Filename: filepath.Base(p)}
		imgs.files[ref.Object] = b
		if i < 2 {
			imgs.inst = append(imgs.inst, ref)
		} else {
			ref.Caption = "a photo of a dog"
			imgs.reg = append(imgs.reg, ref)
		}
	}
	return imgs
}

func TestCDRunnerTrainsResumesAndExtracts(t *testing.T) {
	imgs := testJobImages(t)
	spec := &pb.ConceptJobSpec{ClassNoun: "dog", Steps: 4, CheckpointEvery: 2, Resolution: 32, Seed: 5, LearningRate: 1e-3,
		InstanceImages: imgs.inst, RegularizationImages: imgs.reg}
	ck := &memCheckpoints{}
	// The first generation is cancelled after its checkpoint at step 2.
	ctx, cancel := context.WithCancel(context.Background())
	first := &stepLog{}
	job := &JobContext{JobID: "j", Spec: spec, Rank: 0, Size: 1, Data: imgs, Checkpoints: ck,
		Progress: reporterFunc(func(step int, loss float32) {
			first.Report(step, loss)
			if step == 3 {
				cancel()
			}
		})}
	if _, err := NewCDRunner(tinyModelDir(t)).Run(ctx, job); err == nil {
		t.Fatal("a cancelled run returned no error")
	}
	if len(ck.saves) != 1 || ck.saves[0] != 2 {
		t.Fatalf("checkpoints saved at %v, want [2]", ck.saves)
	}
	second := &stepLog{}
	job.Progress = second
	res, err := NewCDRunner(tinyModelDir(t)).Run(context.Background(), job)
	if err != nil {
		t.Fatal(err)
	}
	if fmt.Sprint(second.steps) != "[3 4]" {
		t.Errorf("resumed run reported steps %v, want [3 4]", second.steps)
	}
	info, err := ParseEntry(res.Entry)
	if err != nil {
		t.Fatal(err)
	}
	if info.ClassNoun != "dog" || info.NTok != 2 || info.ModifierToken != "<new1>" {
		t.Errorf("entry %+v", info)
	}
	d, err := DecodeDelta(res.Delta)
	if err != nil {
		t.Fatal(err)
	}
	if d.Step != 4 || len(d.Weights) != 24 {
		t.Errorf("delta step %d with %d weights", d.Step, len(d.Weights))
	}
	r, err := ParseRecipe(d.Recipe)
	if err != nil || !r.BaseFlow || !r.Prior || r.Resolution != 32 {
		t.Errorf("delta recipe %+v (%v)", r, err)
	}
}

type reporterFunc func(step int, loss float32)

func (f reporterFunc) Report(step int, loss float32) { f(step, loss) }

// TestCDRunnerTokenOnlyPlaces: a job's token_only reaches the recipe (the delta holds
// the token rows alone; checkpoints work) and its places and fillers reach the
// extraction.
func TestCDRunnerTokenOnlyPlaces(t *testing.T) {
	if pb.MaxPlaces != blend.MaxPlaces {
		t.Fatalf("the job spec allows %d places, the bank %d", pb.MaxPlaces, blend.MaxPlaces)
	}
	imgs := testJobImages(t)
	spec := &pb.ConceptJobSpec{ConceptName: "rex", ClassNoun: "dog", Steps: 2, Resolution: 32, Seed: 5, LearningRate: 5e-3,
		InstanceImages: imgs.inst, RegularizationImages: imgs.reg, UploadId: "x", CheckpointEvery: 1,
		TokenOnly: true, Places: 3, PlaceFillers: []string{"cat", "cow"}}
	job := &JobContext{JobID: "j", Spec: spec, Rank: 0, Size: 1, Data: imgs, Checkpoints: &memCheckpoints{}}
	res, err := NewCDRunner(tinyModelDir(t)).Run(context.Background(), job)
	if err != nil {
		t.Fatal(err)
	}
	info, err := ParseEntry(res.Entry)
	if err != nil {
		t.Fatal(err)
	}
	if info.Places != 3 {
		t.Errorf("entry holds %d places, want 3", info.Places)
	}
	path := filepath.Join(t.TempDir(), "rex.safetensors")
	if err := os.WriteFile(path, res.Entry, 0o644); err != nil {
		t.Fatal(err)
	}
	e, err := blend.ReadEntry(path)
	if err != nil {
		t.Fatal(err)
	}
	if !slices.Equal(e.PlacePrompts, []string{PlacePrompt([]string{"cat"}, "<new1>", "dog"), PlacePrompt([]string{"cat", "cow"}, "<new1>", "dog")}) {
		t.Errorf("place prompts %q", e.PlacePrompts)
	}
	d, err := DecodeDelta(res.Delta)
	if err != nil {
		t.Fatal(err)
	}
	if r, err := ParseRecipe(d.Recipe); err != nil || !r.TokenOnly {
		t.Errorf("delta recipe %+v (%v), want token_only", r, err)
	}
	if len(d.Weights) != 0 {
		t.Errorf("the token-only delta holds %d weights, want none (the projections stay the base model's)", len(d.Weights))
	}
}

// TestCDRunnerChecksExtractionFirst: a filler that holds the class noun passes the
// spec's validation (it is another noun; TestSubmitConceptJobValidate) but cannot give
// place 2's rows; the job fails before its first step, naming the filler's prompt.
func TestCDRunnerChecksExtractionFirst(t *testing.T) {
	imgs := testJobImages(t)
	spec := &pb.ConceptJobSpec{ConceptName: "rex", ClassNoun: "dog", Steps: 2, Resolution: 32, Seed: 5, UploadId: "x",
		InstanceImages: imgs.inst, Places: 2, PlaceFillers: []string{"hot dog"}}
	steps := &stepLog{}
	job := &JobContext{JobID: "j", Spec: spec, Rank: 0, Size: 1, Data: imgs, Checkpoints: &memCheckpoints{}, Progress: steps}
	_, err := NewCDRunner(tinyModelDir(t)).Run(context.Background(), job)
	if err == nil || !strings.Contains(err.Error(), `"a hot dog and <new1> dog"`) {
		t.Fatalf("got error %v, want one naming the place-2 prompt", err)
	}
	if len(steps.steps) != 0 {
		t.Errorf("the job trained %d steps before failing", len(steps.steps))
	}
}
