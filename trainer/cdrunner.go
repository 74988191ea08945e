package trainer

import (
	"context"
	"fmt"
	"log/slog"

	"github.com/latexblend/latexblend/blend"
	pb "github.com/latexblend/latexblend/proto/latexblend/v1"
)

// CDRunner is the JobRunner of real trainer nodes: Custom Diffusion with LatexBlend's
// base flow on the node's base model, one rank of the gang's ring, checkpointing and
// resuming through the job's CheckpointStore, and on rank 0 the final delta and the
// extracted concept entry.
type CDRunner struct {
	// ModelDir is the node's base model (a diffusers SDXL folder).
	ModelDir string
	// Log receives run messages (default: the job's logger).
	Log *slog.Logger
}

// NewCDRunner returns a runner training on the model in modelDir.
func NewCDRunner(modelDir string) *CDRunner { return &CDRunner{ModelDir: modelDir} }

// RecipeFromSpec turns a job spec into a recipe; zero fields take the reference's
// defaults, resolution the model's native size.
func RecipeFromSpec(spec *pb.ConceptJobSpec, nativeResolution int) Recipe {
	r := DefaultRecipe(spec.GetClassNoun())
	if s := spec.GetModifierToken(); s != "" {
		r.ModifierToken = s
	}
	if s := spec.GetInitToken(); s != "" {
		r.InitToken = s
	}
	if len(spec.GetTemplates()) > 0 {
		r.Templates = append([]string(nil), spec.GetTemplates()...)
	}
	if n := spec.GetSteps(); n > 0 {
		r.Steps = int(n)
	}
	if lr := spec.GetLearningRate(); lr > 0 {
		r.LearningRate = float64(lr)
	}
	r.ScaleLR = spec.GetScaleLr()
	if b := spec.GetBatchSize(); b > 0 {
		r.Batch = int(b)
	}
	// The learning rate is scaled for the gang the job asked for, so that an elastic
	// re-formation with fewer trainers does not change it mid-run.
	r.Ranks = max(int(spec.GetWorkers()), 1)
	r.Resolution = nativeResolution
	if res := spec.GetResolution(); res > 0 {
		r.Resolution = int(res)
	}
	r.Seed = spec.GetSeed()
	r.BaseFlow = !spec.GetNoBaseFlow()
	r.Prior = len(spec.GetRegularizationImages()) > 0
	r.TokenOnly = spec.GetTokenOnly()
	return r
}

// ExtractOptionsFromSpec is how a job's entry is extracted: its extract prompt, and
// rows for its places after its filler nouns.
func ExtractOptionsFromSpec(spec *pb.ConceptJobSpec) ExtractOptions {
	return ExtractOptions{
		Prompt:  spec.GetExtractPrompt(),
		Places:  int(spec.GetPlaces()),
		Fillers: append([]string(nil), spec.GetPlaceFillers()...),
	}
}

// NativeResolution is the base model's training size: the UNet's sample size times
// the VAE's down factor (1024 for SDXL, 64 for the tiny test model).
func (b *Base) NativeResolution() int {
	f := 8
	if b.VAE != nil {
		f = b.VAE.DownFactor()
	}
	s := b.UNet.Config().SampleSize
	if len(s) == 0 {
		return 1024
	}
	return s[0] * f
}

// Run trains one generation of the job on this rank.
func (c *CDRunner) Run(ctx context.Context, job *JobContext) (*Result, error) {
	log := c.Log
	if log == nil {
		log = job.Log
	}
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	base, err := LoadBase(c.ModelDir, true)
	if err != nil {
		return nil, err
	}
	if job.BaseModelID != "" && job.BaseModelID != base.Identity {
		base.Close()
		return nil, fmt.Errorf("the node announces base model %s but %s is %s", job.BaseModelID, c.ModelDir, base.Identity)
	}
	recipe := RecipeFromSpec(job.Spec, base.NativeResolution())
	inst, err := fetchImages(ctx, job.Data, job.Data.Instance())
	if err != nil {
		base.Close()
		return nil, err
	}
	reg, err := fetchImages(ctx, job.Data, job.Data.Regularization())
	if err != nil {
		base.Close()
		return nil, err
	}
	data, err := NewTrainData(inst, reg, recipe.Resolution)
	if err != nil {
		base.Close()
		return nil, err
	}
	var red Reducer
	if job.Ring != nil && job.Size > 1 {
		red = job.Ring
	}
	t, err := NewTrainer(base, recipe, red)
	if err != nil {
		base.Close()
		return nil, err
	}
	defer t.Close()
	// A prompt or filler the entry cannot be extracted with fails the job now, not
	// after its training.
	if err := CheckExtract(t.base, ExtractOptionsFromSpec(job.Spec), recipe.ModifierToken, recipe.ClassNoun, t.ModifierID()); err != nil {
		return nil, fmt.Errorf("the job's entry could not be extracted: %w", err)
	}
	if job.Checkpoints != nil {
		step, ck, err := job.Checkpoints.Load(ctx)
		if err != nil {
			return nil, fmt.Errorf("loading the job's checkpoint: %w", err)
		}
		if ck != nil {
			if err := t.Restore(ck); err != nil {
				return nil, fmt.Errorf("job checkpoint of step %d: %w", step, err)
			}
			log.Info("resumed from checkpoint", "step", t.Step())
		}
	}
	lc := LoopConfig{Data: data, Rank: job.Rank, CheckpointEvery: int(job.Spec.GetCheckpointEvery())}
	if job.Checkpoints != nil && job.Rank == 0 {
		// Only rank 0's checkpoint is stored; the others would only encode it.
		lc.Save = job.Checkpoints.Save
	}
	if job.Progress != nil {
		lc.OnStep = func(sr StepResult) { job.Progress.Report(sr.Step, float32(sr.Loss)) }
	}
	if err := t.Train(ctx, lc); err != nil {
		return nil, err
	}
	if job.Rank != 0 {
		return &Result{}, nil
	}
	d := t.Delta()
	delta, err := EncodeDelta(d)
	if err != nil {
		return nil, err
	}
	e, err := Extract(base, d, ExtractOptionsFromSpec(job.Spec))
	if err != nil {
		return nil, err
	}
	entry, err := blend.EncodeEntry(e)
	if err != nil {
		return nil, err
	}
	log.Info("concept trained", "steps", t.Step(), "delta_bytes", len(delta), "entry_bytes", len(entry))
	return &Result{Delta: delta, Entry: entry}, nil
}

// fetchImages reads and decodes a job's images; regularization captions come along.
func fetchImages(ctx context.Context, ds JobImages, refs []*pb.ImageRef) ([]Image, error) {
	var out []Image
	for _, ref := range refs {
		b, err := ds.Fetch(ctx, ref)
		if err != nil {
			return nil, err
		}
		name := ref.GetFilename()
		if name == "" {
			name = ref.GetObject()
		}
		img, err := DecodeImage(name, b)
		if err != nil {
			return nil, err
		}
		out = append(out, Image{Name: name, Caption: ref.GetCaption(), Img: img})
	}
	return out, nil
}
