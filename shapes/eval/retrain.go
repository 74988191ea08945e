package eval

import (
	"context"
	"fmt"
	"io"
	"log/slog"
	"os"
	"path/filepath"
	"time"

	"github.com/latexblend/latexblend/blend"
	"github.com/latexblend/latexblend/model/clip"
	"github.com/latexblend/latexblend/shapes"
	"github.com/latexblend/latexblend/trainer"
)

// TrainConfig sets how Retrain trains the eval concepts. DefaultTrainConfig is the
// recipe of the committed entries.
type TrainConfig struct {
	// Steps, LearningRate and Batch are the trainer recipe's (constant learning rate,
	// no scaling).
	Steps        int
	LearningRate float64
	Batch        int
	// RegImages is the size of each concept's regularization set (bare objects of its
	// class, captioned like base data); 0 turns prior preservation off.
	RegImages int
	// TokenOnly trains the token rows alone (trainer.Recipe.TokenOnly).
	TokenOnly bool
	// Seed seeds the regularization sets and the trainer.
	Seed uint64
	// Created stamps the entries (zero: now).
	Created time.Time
	// Progress receives one line per concept and a progress bar (nil: none).
	Progress io.Writer
	Log      *slog.Logger
}

// DefaultTrainConfig is the eval concepts' training recipe.
func DefaultTrainConfig() TrainConfig {
	return TrainConfig{Steps: 600, LearningRate: 5e-4, Batch: 1, RegImages: 64, Seed: 42}
}

// Recipe is the trainer recipe of one eval concept: the reference recipe (base flow,
// template pool, augmentation, flips, prior preservation) with the concept's own
// modifier token and cfg's steps, rate and batch at the model's resolution. initToken
// is the vocabulary entry the token's rows start from (InitToken).
func (cfg TrainConfig) Recipe(c EvalConcept, resolution int, initToken string) trainer.Recipe {
	r := trainer.DefaultRecipe(c.Class.String())
	r.ModifierToken, r.InitToken = c.Token, initToken
	r.Steps, r.LearningRate, r.Batch = cfg.Steps, cfg.LearningRate, cfg.Batch
	r.Resolution, r.Seed = resolution, cfg.Seed
	r.Prior = cfg.RegImages > 0
	r.TokenOnly = cfg.TokenOnly
	return r
}

// Retrain trains a delta per concept with the trainer library on the concept's image
// set (shapes.ConceptSet) and its class's regularization set (shapes.RegSet), extracts
// its concept-bank entry, and writes both into outDir (DeltaFile, EntryFile).
func Retrain(ctx context.Context, modelDir, outDir string, concepts []EvalConcept, cfg TrainConfig) error {
	if cfg.Log == nil {
		cfg.Log = slog.New(slog.DiscardHandler)
	}
	if cfg.Progress == nil {
		cfg.Progress = io.Discard
	}
	if cfg.Created.IsZero() {
		cfg.Created = time.Now().UTC().Truncate(time.Second)
	}
	if err := os.MkdirAll(outDir, 0o755); err != nil {
		return fmt.Errorf("eval: retrain: %w", err)
	}
	base, err := trainer.LoadBase(modelDir, true)
	if err != nil {
		return fmt.Errorf("eval: retrain: %w", err)
	}
	res := base.NativeResolution()
	init, err := InitToken(base.Prompt.Tokenizer)
	base.Close()
	if err != nil {
		return fmt.Errorf("eval: retrain: %w", err)
	}
	for _, c := range concepts {
		if err := retrainOne(ctx, modelDir, outDir, c, cfg.Recipe(c, res, init), cfg); err != nil {
			return fmt.Errorf("eval: retrain %s: %w", c.Name, err)
		}
	}
	return nil
}

// InitToken is the vocabulary entry the modifier tokens start from: the reference's
// "ktn" where the vocabulary has it as a token (CLIP's does), else "ktn</w>" (the shapes
// tokenizer has only the word-final form).
func InitToken(tok *clip.Tokenizer) (string, error) {
	for _, s := range []string{trainer.DefaultInitToken, trainer.DefaultInitToken + "</w>"} {
		if ids := tok.LookupTokens(s); len(ids) == 1 && ids[0] != tok.Unknown() {
			return s, nil
		}
	}
	return "", fmt.Errorf("the tokenizer in %s has neither %q nor %q to initialise the modifier tokens from",
		tok.Dir(), trainer.DefaultInitToken, trainer.DefaultInitToken+"</w>")
}

func retrainOne(ctx context.Context, modelDir, outDir string, c EvalConcept, r trainer.Recipe, cfg TrainConfig) error {
	res := r.Resolution
	inst, err := shapes.ConceptSet(c.Name, shapes.ConceptImages, res)
	if err != nil {
		return err
	}
	var reg []shapes.Sample
	if cfg.RegImages > 0 {
		if reg, err = shapes.RegSet(c.Class, cfg.RegImages, cfg.Seed, res); err != nil {
			return err
		}
	}
	what := ""
	if r.TokenOnly {
		what = ", token rows only"
	}
	fmt.Fprintf(cfg.Progress, "eval: training %s (%s %s): %d images, %d regularization images, %d steps, batch %d, lr %g%s\n",
		c.Name, c.Token, c.Class, len(inst), len(reg), r.Steps, r.Batch, r.LearningRate, what)
	start := time.Now()
	var progress *trainer.Progress
	out, err := trainer.RunLocal(ctx, trainer.LocalConfig{
		ModelDir: modelDir, Recipe: r, Instances: trainerImages(inst), Reg: trainerImages(reg), Ranks: 1, Log: cfg.Log,
		OnStep: func(sr trainer.StepResult) {
			if progress == nil {
				progress = trainer.NewProgress(cfg.Progress, r.Steps, sr.Step, nil)
			}
			if sr.Step%10 == 0 || sr.Step == r.Steps {
				progress.Update(sr)
			}
		},
	}, false)
	if err != nil {
		return err
	}
	fmt.Fprintln(cfg.Progress)
	deltaPath := filepath.Join(outDir, DeltaFile(c.Name))
	if err := trainer.WriteDelta(deltaPath, out.Delta); err != nil {
		return err
	}
	base, err := trainer.LoadBase(modelDir, false)
	if err != nil {
		return err
	}
	defer base.Close()
	// The token goes in first with a row initialiser this tokenizer has (Extract's own
	// initialiser is CLIP's "ktn", which the shapes tokenizer lacks); Extract then only
	// writes the learned rows again.
	if err := InstallTokens(base.Prompt, []*trainer.Delta{out.Delta}); err != nil {
		return err
	}
	e, err := trainer.Extract(base, out.Delta, trainer.ExtractOptions{Created: cfg.Created})
	if err != nil {
		return err
	}
	if err := blend.WriteEntry(filepath.Join(outDir, EntryFile(c.Name)), e); err != nil {
		return err
	}
	fmt.Fprintf(cfg.Progress, "eval: %s trained in %.1fs, wrote %s and %s\n", c.Name, time.Since(start).Seconds(),
		DeltaFile(c.Name), EntryFile(c.Name))
	return nil
}

// trainerImages converts rendered samples to the trainer's images.
func trainerImages(s []shapes.Sample) []trainer.Image {
	out := make([]trainer.Image, len(s))
	for i, x := range s {
		out[i] = trainer.Image{Name: x.Name, Caption: x.Caption, Img: x.Image}
	}
	return out
}
