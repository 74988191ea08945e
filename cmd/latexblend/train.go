package main

import (
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"time"

	"github.com/spf13/cobra"

	"github.com/latexblend/latexblend/trainer"
)

func init() { subcommands = append(subcommands, newTrainCmd) }

// newTrainCmd fine-tunes one concept on this machine: Custom Diffusion with LatexBlend's
// base flow, optionally data-parallel over several local ranks joined by a NATS ring.
func newTrainCmd() *cobra.Command {
	var (
		modelDir, imagesDir, regDir, out, resume, natsURL, previewDir string
		ranks, checkpointEvery, previewEvery                          int
		noBaseFlow, noAug, noFlip                                     bool
	)
	r := trainer.DefaultRecipe("")
	cmd := &cobra.Command{
		Use:   "train --model DIR --images DIR --class NOUN [flags] --out DELTA.safetensors",
		Short: "Fine-tune a concept (Custom Diffusion + LatexBlend base flow) into a delta file",
		Long: `Trains the attn2 to_k/to_v weights of every cross-attention layer and the modifier
token's embedding rows in both text encoders (initialised from --init-token) on the
instance images in --images, with the reference recipe: LatexBlend's base-flow K/V splice
(--no-base-flow: plain Custom Diffusion; --token-only: the token rows alone, the
projections kept at the base model's, an extension measured in docs/eval.md), the
7-template prompt pool, random-scale
augmentation with its mask, horizontal flip, masked instance loss plus prior loss on the
--reg images (a folder with optional same-name .txt captions, or the reference's
images.txt + caption.txt layout; without --reg prior preservation is off), AdamW
(0.9, 0.999, wd 1e-2, eps 1e-8), gradient clipping at 1.0, DDPM noise, uniform timesteps.

--ranks N runs N data-parallel ranks in this process joined by an all-reduce ring over
NATS (an embedded server unless --nats URL); each rank draws its own samples.
Every --checkpoint-every K steps the full state is written to <out>.checkpoint.safetensors;
--resume FILE continues from such a checkpoint exactly. The last line is
steps=… loss=… seconds=… steps_per_sec=… ranks=… lr=… out=…`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			switch {
			case modelDir == "":
				return fmt.Errorf("train: --model DIR is required")
			case imagesDir == "":
				return fmt.Errorf("train: --images DIR is required")
			case r.ClassNoun == "":
				return fmt.Errorf("train: --class NOUN is required")
			case out == "":
				return fmt.Errorf("train: --out DELTA.safetensors is required")
			case ranks < 1:
				return fmt.Errorf("train: --ranks %d must be at least 1", ranks)
			}
			stderr := cmd.ErrOrStderr()
			r.BaseFlow, r.Augment, r.HFlip, r.Ranks = !noBaseFlow, !noAug, !noFlip, ranks
			if regDir == "" {
				fmt.Fprintln(stderr, "train: no --reg images: prior preservation is off, training with the instance loss only")
			}
			inst, err := trainer.ReadImageDir(imagesDir)
			if err != nil {
				return fmt.Errorf("train: --images: %w", err)
			}
			var reg []trainer.Image
			if regDir != "" {
				if reg, err = trainer.ReadRegDir(regDir); err != nil {
					return fmt.Errorf("train: --reg: %w", err)
				}
			}
			r.Prior = len(reg) > 0
			if r.Resolution == 0 {
				if r.Resolution, err = nativeResolution(modelDir); err != nil {
					return fmt.Errorf("train: %w", err)
				}
			}
			if err := r.Validate(); err != nil {
				return fmt.Errorf("train: %w", err)
			}
			var resumeData []byte
			if resume != "" {
				if resumeData, err = os.ReadFile(resume); err != nil {
					return fmt.Errorf("train: --resume: %w", err)
				}
			}
			ckpt := ""
			if checkpointEvery > 0 {
				ckpt = strings.TrimSuffix(out, filepath.Ext(out)) + ".checkpoint.safetensors"
			}
			if previewEvery > 0 && previewDir == "" {
				previewDir = filepath.Dir(out)
			}
			fmt.Fprintf(stderr, "train: %d instance images, %d regularization images, %d steps, batch %d × %d ranks, lr %.3g, resolution %d, base flow %v, token only %v\n",
				len(inst), len(reg), r.Steps, r.Batch, ranks, r.EffectiveLR(), r.Resolution, r.BaseFlow, r.TokenOnly)
			start := time.Now()
			var last trainer.StepResult
			var progress *trainer.Progress
			res, err := trainer.RunLocal(cmd.Context(), trainer.LocalConfig{
				ModelDir: modelDir, Recipe: r, Instances: inst, Reg: reg, Ranks: ranks, NATSURL: natsURL,
				CheckpointEvery: checkpointEvery, CheckpointPath: ckpt, Resume: resumeData,
				PreviewEvery: previewEvery, PreviewDir: previewDir,
				OnPreview: func(p string) { fmt.Fprintf(stderr, "\ntrain: preview %s\n", p) },
				OnStep: func(sr trainer.StepResult) {
					if progress == nil {
						// Rates count from the first step on: it includes compiling the graph.
						progress = trainer.NewProgress(stderr, r.Steps, sr.Step, nil)
					}
					progress.Update(sr)
					last = sr
				},
			}, false)
			if err != nil {
				return fmt.Errorf("train: %w", err)
			}
			if err := trainer.WriteDelta(out, res.Delta); err != nil {
				return fmt.Errorf("train: %w", err)
			}
			sec := time.Since(start).Seconds()
			_, err = fmt.Fprintf(cmd.OutOrStdout(), "steps=%d loss=%.6f seconds=%.2f steps_per_sec=%.3f ranks=%d lr=%.3g out=%s\n",
				res.Delta.Step, last.Loss, sec, float64(res.Delta.Step)/sec, ranks, r.EffectiveLR(), out)
			return err
		},
	}
	f := cmd.Flags()
	f.StringVar(&modelDir, "model", "", "SDXL diffusers model folder")
	f.StringVar(&imagesDir, "images", "", "folder of instance images (PNG, JPEG)")
	f.StringVar(&r.ClassNoun, "class", "", "class noun of the concept, e.g. dog")
	f.StringVar(&r.ModifierToken, "token", trainer.DefaultModifierToken, "modifier token that learns the concept")
	f.StringVar(&r.InitToken, "init-token", trainer.DefaultInitToken, "vocabulary entry whose embedding rows initialise the token")
	f.StringVar(&regDir, "reg", "", "regularization images (folder with optional .txt captions, or images.txt + caption.txt)")
	f.IntVar(&r.Steps, "steps", trainer.DefaultSteps, "optimizer steps")
	f.Float64Var(&r.LearningRate, "lr", trainer.DefaultLearningRate, "learning rate (before --scale-lr)")
	f.BoolVar(&r.ScaleLR, "scale-lr", false, "scale the learning rate by batch × ranks × 2 (with prior preservation), as the reference")
	f.IntVar(&r.Batch, "batch", 1, "instance images per rank per step")
	f.IntVar(&r.Resolution, "resolution", 0, "training resolution in pixels (default: the model's native size)")
	f.Uint64Var(&r.Seed, "seed", 42, "seed of sampling, augmentation, noise and timesteps")
	f.IntVar(&ranks, "ranks", 1, "data-parallel ranks in this process")
	f.StringVar(&natsURL, "nats", "", "NATS server for the ranks' ring (default: an embedded one)")
	f.IntVar(&checkpointEvery, "checkpoint-every", 0, "write a checkpoint every K steps (0: never)")
	f.StringVar(&resume, "resume", "", "checkpoint file to continue from")
	f.BoolVar(&noBaseFlow, "no-base-flow", false, "plain Custom Diffusion (no LatexBlend base-flow splice)")
	f.BoolVar(&r.TokenOnly, "token-only", false, "train the modifier token's rows alone, keeping every attn2 to_k/to_v at the base model's (try a learning rate about 10× higher)")
	f.BoolVar(&noAug, "no-aug", false, "no random-scale augmentation")
	f.BoolVar(&noFlip, "no-flip", false, "no horizontal flips")
	f.IntVar(&previewEvery, "preview-every", 0, "render a preview image (fixed prompt and seed) every M steps (0: never)")
	f.StringVar(&previewDir, "preview-dir", "", "folder of the previews (default: the folder of --out)")
	f.StringVar(&out, "out", "", "delta file to write (latexblend.delta/v1 safetensors)")
	return cmd
}

// nativeResolution is the model's training size (UNet sample size × VAE factor).
func nativeResolution(dir string) (int, error) {
	base, err := trainer.LoadBase(dir, true)
	if err != nil {
		return 0, err
	}
	defer base.Close()
	return base.NativeResolution(), nil
}
