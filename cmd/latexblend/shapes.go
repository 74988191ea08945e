package main

import (
	"fmt"
	"image"
	"image/png"
	"os"
	"path/filepath"
	"strings"
	"time"

	"github.com/spf13/cobra"

	"github.com/latexblend/latexblend/shapes"
	"github.com/latexblend/latexblend/shapes/judge"
)

func init() { subcommands = append(subcommands, newShapesCmd) }

// newShapesCmd groups the commands of the synthetic shapes world.
func newShapesCmd() *cobra.Command {
	cmd := &cobra.Command{
		Use:   "shapes",
		Short: "The synthetic shapes world: render its data sets, write its tokenizer, train and run its judge",
	}
	cmd.AddCommand(newShapesRenderCmd(), newShapesTokenizerCmd(), newShapesJudgeCmd())
	return cmd
}

func newShapesRenderCmd() *cobra.Command {
	var (
		out, set, grid string
		n, size        int
		seed           uint64
	)
	cmd := &cobra.Command{
		Use:   "render --out DIR [--set base|concepts|reg] [--n N] [--seed S] [--size 64]",
		Short: "Write a deterministic set of images as NAME.png + NAME.txt (caption) and scenes.jsonl",
		Long: "Render a shapes-world set into DIR. --set base (default) writes N captioned scenes of one to three\n" +
			"objects (plain or textured, never as a concept) drawn from --seed; --set concepts writes DIR/<concept>/ for every concept (N images each,\n" +
			"default 8; the concept streams are fixed); --set reg writes DIR/<class>/ regularisation images of every\n" +
			"bare class. The same flags give byte-identical images on every machine. --grid FILE also writes a\n" +
			"contact sheet of (up to 64 of) the images.",
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			if out == "" {
				return fmt.Errorf("shapes render: --out DIR is required")
			}
			if n < 0 {
				return fmt.Errorf("shapes render: --n %d must not be negative", n)
			}
			var all []shapes.Sample
			write := func(dir string, samples []shapes.Sample, err error) error {
				if err != nil {
					return fmt.Errorf("shapes render: %w", err)
				}
				all = append(all, samples...)
				return shapes.WriteSamples(dir, samples)
			}
			switch set {
			case "base":
				if n == 0 {
					n = 1000
				}
				s, err := shapes.Dataset(seed, n, size)
				if err := write(out, s, err); err != nil {
					return err
				}
			case "concepts":
				if n == 0 {
					n = shapes.ConceptImages
				}
				for _, c := range shapes.Concepts {
					s, err := shapes.ConceptSet(c.Name, n, size)
					if err := write(filepath.Join(out, c.Name), s, err); err != nil {
						return err
					}
				}
			case "reg":
				if n == 0 {
					n = 200
				}
				for _, c := range shapes.Classes() {
					s, err := shapes.RegSet(c, n, seed, size)
					if err := write(filepath.Join(out, c.String()), s, err); err != nil {
						return err
					}
				}
			default:
				return fmt.Errorf("shapes render: --set %q, want base, concepts or reg", set)
			}
			if grid != "" {
				var imgs []image.Image
				for i := 0; i < len(all) && i < 64; i++ {
					imgs = append(imgs, all[i].Image)
				}
				if err := shapes.WritePNG(grid, shapes.Grid(imgs, 8, 2)); err != nil {
					return err
				}
			}
			_, err := fmt.Fprintf(cmd.OutOrStdout(), "set=%s images=%d size=%d seed=%d out=%s\n", set, len(all), size, seed, out)
			return err
		},
	}
	fl := cmd.Flags()
	fl.StringVar(&out, "out", "", "output folder")
	fl.StringVar(&set, "set", "base", "which set: base, concepts or reg")
	fl.IntVar(&n, "n", 0, "images (per concept or class for concepts/reg; default 1000 base, 8 concepts, 200 reg)")
	fl.Uint64Var(&seed, "seed", 0, "seed of the base and reg streams")
	fl.IntVar(&size, "size", shapes.DefaultSize, "image side in pixels: 16, 32, 64, 128 or 256")
	fl.StringVar(&grid, "grid", "", "also write a contact sheet PNG here")
	return cmd
}

func newShapesTokenizerCmd() *cobra.Command {
	var out string
	cmd := &cobra.Command{
		Use:   "tokenizer --out DIR",
		Short: "Write the shapes world's CLIP BPE tokenizer (vocab.json, merges.txt) to DIR",
		Long: "Learn the world's BPE merges from its caption and prompt vocabulary and write vocab.json and merges.txt\n" +
			"in the Hugging Face CLIPTokenizer format (<|startoftext|> and <|endoftext|> are the two highest ids).\n" +
			"The committed copy is shapes/assets/tokenizer.",
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			if out == "" {
				return fmt.Errorf("shapes tokenizer: --out DIR is required")
			}
			if err := shapes.WriteTokenizer(out); err != nil {
				return err
			}
			t := shapes.BuildTokenizer()
			_, err := fmt.Fprintf(cmd.OutOrStdout(), "vocab=%d merges=%d words=%d out=%s\n",
				len(t.Vocab), len(t.Merges), len(shapes.TokenizerWords()), out)
			return err
		},
	}
	cmd.Flags().StringVar(&out, "out", "", "output folder")
	return cmd
}

// defaultJudgeWeights is where `judge train` writes by default: the committed judge,
// relative to the repository root (it is also embedded in the binary).
const defaultJudgeWeights = "shapes/assets/judge.safetensors"

func newShapesJudgeCmd() *cobra.Command {
	cmd := &cobra.Command{
		Use:   "judge",
		Short: "Train, evaluate or run the shapes-world judge (a classifier trained on renders only)",
	}
	cmd.AddCommand(newJudgeTrainCmd(), newJudgeEvalCmd(), newJudgePredictCmd())
	return cmd
}

func newJudgeTrainCmd() *cobra.Command {
	var (
		out, logLevel string
		cfg           judge.TrainConfig
		evalN         int
	)
	cmd := &cobra.Command{
		Use:   "train [--out FILE] [--steps N] [--seed S]",
		Short: "Train the judge from scratch on rendered scenes and save its weights",
		Long: "Train the judge on freshly rendered, augmented shapes-world scenes (plain and textured objects, never\n" +
			"generated images), save the weights (float16 safetensors) to --out, then score it on --eval held-out\n" +
			"renders and the concept sets. The last line is key=value.",
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			log, err := newLogger(logLevel)
			if err != nil {
				return err
			}
			cfg.Log = log
			start := time.Now()
			j, err := judge.Train(cmd.Context(), cfg)
			if err != nil {
				return err
			}
			defer j.Close()
			trainSec := time.Since(start).Seconds()
			meta := map[string]string{"steps": fmt.Sprint(cfg.Steps), "seed": fmt.Sprint(cfg.Seed), "batch": fmt.Sprint(cfg.Batch)}
			if err := j.Network().Save(out, meta); err != nil {
				return err
			}
			// Score the saved (float16) weights, as users will load them.
			saved, err := judge.Load(out)
			if err != nil {
				return err
			}
			defer saved.Close()
			line, err := judgeReport(saved, evalN)
			if err != nil {
				return err
			}
			_, err = fmt.Fprintf(cmd.OutOrStdout(), "out=%s train_seconds=%.0f %s\n", out, trainSec, line)
			return err
		},
	}
	fl := cmd.Flags()
	fl.StringVar(&out, "out", defaultJudgeWeights, "weights file to write")
	fl.IntVar(&cfg.Steps, "steps", 800, "optimizer steps")
	fl.IntVar(&cfg.Batch, "batch", 64, "object crops per step")
	fl.Uint64Var(&cfg.Seed, "seed", 1, "training data and initialisation seed")
	fl.Float64Var(&cfg.LR, "lr", 2e-3, "peak AdamW learning rate")
	fl.IntVar(&evalN, "eval", 1000, "held-out renders to score after training")
	fl.StringVar(&logLevel, "log-level", "info", "log level: debug, info, warn, error")
	return cmd
}

// judgeReport scores a judge on n held-out renders and on the concept sets.
func judgeReport(j *judge.Judge, n int) (string, error) {
	m, err := judge.Evaluate(j, judge.HeldOutSeed, n)
	if err != nil {
		return "", err
	}
	if m.ConceptRecall, err = judge.EvaluateConcepts(j); err != nil {
		return "", err
	}
	return m.String(), nil
}

func newJudgeEvalCmd() *cobra.Command {
	var (
		weights string
		n       int
		seed    uint64
	)
	cmd := &cobra.Command{
		Use:   "eval [--weights FILE] [--n N] [--seed S]",
		Short: "Score the judge on held-out renders; the last line is key=value",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			j, err := judge.LoadOrDefault(weights)
			if err != nil {
				return err
			}
			defer j.Close()
			m, err := judge.Evaluate(j, seed, n)
			if err != nil {
				return err
			}
			if m.ConceptRecall, err = judge.EvaluateConcepts(j); err != nil {
				return err
			}
			_, err = fmt.Fprintln(cmd.OutOrStdout(), m.String())
			return err
		},
	}
	fl := cmd.Flags()
	fl.StringVar(&weights, "weights", "", "judge weights (safetensors; default: the committed judge built into the binary)")
	fl.IntVar(&n, "n", 1000, "held-out renders")
	fl.Uint64Var(&seed, "seed", judge.HeldOutSeed, "seed of the held-out stream")
	return cmd
}

func newJudgePredictCmd() *cobra.Command {
	var weights string
	cmd := &cobra.Command{
		Use:   "predict [--weights FILE] IMAGE.png...",
		Short: "Print what the judge sees in each image: the classes and texture@class pairs judged present",
		Args:  cobra.MinimumNArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			j, err := judge.LoadOrDefault(weights)
			if err != nil {
				return err
			}
			defer j.Close()
			imgs := make([]image.Image, len(args))
			for i, path := range args {
				if imgs[i], err = readPNG(path); err != nil {
					return err
				}
			}
			vs, err := j.Predict(imgs)
			if err != nil {
				return err
			}
			for i, v := range vs {
				if _, err := fmt.Fprintf(cmd.OutOrStdout(), "%s: %s\n", args[i], strings.Join(v.Present(), " ")); err != nil {
					return err
				}
			}
			return nil
		},
	}
	cmd.Flags().StringVar(&weights, "weights", "", "judge weights (safetensors; default: the committed judge built into the binary)")
	return cmd
}

func readPNG(path string) (image.Image, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	img, err := png.Decode(f)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", path, err)
	}
	return img, nil
}
