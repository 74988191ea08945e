package main

import (
	"fmt"
	"strings"

	"github.com/spf13/cobra"

	"github.com/latexblend/latexblend/shapes/eval"
	"github.com/latexblend/latexblend/shapes/judge"
)

func init() { subcommands = append(subcommands, newEvalCmd) }

// newEvalCmd runs the shapes-world quality evaluation: LatexBlend against the base model
// and the merged-weights Custom Diffusion baseline, scored by the shapes judge.
func newEvalCmd() *cobra.Command {
	var (
		modelDir, entriesDir, judgePath, methods, prompts, logLevel string
		retrain                                                     bool
		cfg                                                         = eval.DefaultConfig()
		tc                                                          = eval.DefaultTrainConfig()
	)
	cmd := &cobra.Command{
		Use:   "eval [--model DIR] [--retrain] [--out DIR] [--seeds N]",
		Short: "Evaluate LatexBlend on the shapes world against the base model and merged Custom Diffusion weights",
		Long: `For 4 one-concept, 4 two-concept and 4 three-concept prompts ("a star and a ring"), each
with --seeds seeds, generates with: the base model alone (plain class nouns), the base
model told the textures in words ("a checkered star and a rainbow ring", a reference),
LatexBlend replacement with perfect entries (the base model's own K/V of those words, a
reference), LatexBlend replacement with the trained entries, + blending guidance,
+ self-attention rectification, and the merged-weights baseline (the prompt's concepts'
fine-tuned to_k/to_v averaged into the model, prompted "a <new1> star and a <new2> ring"). The shapes judge (trained on renders only) reads every
image: concept fidelity (the concept's texture on an object of its class), all concepts
found, prompt fidelity (every asked class present), bleeding (a concept's texture on an
object of another class). Prints a table, writes <out>/<method>.png grids (a row per
prompt, a column per seed) and <out>/results.jsonl; the last line is key=value.

The table's "ceiling" row scores the prompts' own scenes, rendered and passed through the
model's VAE (16 per prompt; <out>/ceiling-scenes.png, keys ceiling_*): a generator can
only draw what the decoder can draw, so no method can be expected to do better.

--methods context,ordinal adds two diagnostics that are not run by default. context:
replacement with perfect entries taken from the words prompt itself, so that each keeps
the context its words have there (which object it is). Against oracle it shows what a
bank entry, extracted from a one-object caption, loses in a prompt of several objects.
ordinal: the entries taken after as many plain objects of other classes as the concept
has before it ("a circle and a rainbow ring"), which needs only the concept's place.

--methods places runs the per-place extension of the concept bank, not run by default:
replace with entries that also hold rows for places 2 and 3, extracted from each
concept's delta after plain objects of the world's other classes ("a circle and <new1>
star"; latexblend extract --places), so each concept gets its place's rows.

The eval concepts (tokens <new1>…<new4>) are committed under shapes/eval/entries and built
into the binary. --retrain first trains them with the trainer on the concept image sets
and regularization sets of --model and extracts their entries into --entries (default
shapes/eval/entries), then evaluates with them. With --prompts only the concepts those
prompts use are retrained.`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			log, err := newLogger(logLevel)
			if err != nil {
				return fmt.Errorf("eval: %w", err)
			}
			stderr := cmd.ErrOrStderr()
			cfg.ModelDir, cfg.EntriesDir, cfg.Progress, cfg.Log = modelDir, entriesDir, stderr, log
			if methods != "" {
				cfg.Methods = nil
				for _, s := range strings.Split(methods, ",") {
					m, err := eval.ParseMethod(strings.TrimSpace(s))
					if err != nil {
						return fmt.Errorf("eval: --methods: %w", err)
					}
					cfg.Methods = append(cfg.Methods, m)
				}
			}
			if prompts != "" {
				if cfg.Prompts, err = eval.ParsePrompts(strings.Split(prompts, ",")); err != nil {
					return fmt.Errorf("eval: --prompts: %w", err)
				}
			}
			if cfg.Seeds < 1 || cfg.Steps < 1 {
				return fmt.Errorf("eval: --seeds %d and --steps %d must be at least 1", cfg.Seeds, cfg.Steps)
			}
			if judgePath != "" {
				j, err := judge.Load(judgePath)
				if err != nil {
					return fmt.Errorf("eval: --judge: %w", err)
				}
				defer j.Close()
				cfg.Judge = j
			}
			if retrain {
				if cfg.EntriesDir == "" {
					cfg.EntriesDir = eval.DefaultEntriesDir
				}
				tc.Progress, tc.Log = stderr, log
				concepts := eval.Concepts()
				if cfg.Prompts != nil {
					concepts = eval.ConceptsOf(cfg.Prompts)
				}
				if err := eval.Retrain(cmd.Context(), modelDir, cfg.EntriesDir, concepts, tc); err != nil {
					return err
				}
			}
			rep, err := eval.Run(cmd.Context(), cfg)
			if err != nil {
				return err
			}
			return rep.Write(cmd.OutOrStdout())
		},
	}
	f := cmd.Flags()
	f.StringVar(&modelDir, "model", "shapes/model", "base model (diffusers folder)")
	f.BoolVar(&retrain, "retrain", false, "train the eval concepts and extract their entries before evaluating")
	f.StringVar(&cfg.Out, "out", "eval-out", "folder of the grids and results.jsonl")
	f.IntVar(&cfg.Seeds, "seeds", cfg.Seeds, "images per prompt (seeds 0 … N-1)")
	f.IntVar(&cfg.Steps, "steps", cfg.Steps, "Euler steps per image")
	f.Float64Var(&cfg.GuidanceScale, "cfg", cfg.GuidanceScale, "classifier-free guidance scale")
	names := make([]string, 0, len(eval.AllMethods()))
	for _, m := range eval.AllMethods() {
		names = append(names, string(m))
	}
	f.StringVar(&methods, "methods", "", "comma-separated subset of "+strings.Join(names, ",")+" (default: all but the context and ordinal diagnostics and the places extension)")
	f.StringVar(&prompts, "prompts", "", "comma-separated subset of the prompts by name, e.g. checker-star+rainbow-ring (default: all 12)")
	f.StringVar(&entriesDir, "entries", "", "folder of the eval concepts' entries and deltas (default: the committed ones; with --retrain shapes/eval/entries)")
	f.StringVar(&judgePath, "judge", "", "judge weights (default: the committed judge)")
	f.BoolVar(&cfg.Binding, "binding", false, "LatexBlend methods: copy the noun's pre-softmax scores onto the modifier slot, as the reference does (in the shapes world it takes the texture away)")
	f.IntVar(&tc.Steps, "train-steps", tc.Steps, "--retrain: optimizer steps per concept")
	f.Float64Var(&tc.LearningRate, "train-lr", tc.LearningRate, "--retrain: learning rate")
	f.IntVar(&tc.Batch, "train-batch", tc.Batch, "--retrain: instance images per step")
	f.BoolVar(&tc.TokenOnly, "train-token-only", false, "--retrain: train the concept tokens' rows alone, the cross-attention projections kept at the base model's (with --train-lr about 5e-3)")
	f.IntVar(&tc.RegImages, "train-reg", tc.RegImages, "--retrain: regularization images per concept (0: no prior preservation)")
	f.StringVar(&logLevel, "log-level", "warn", "log level: debug, info, warn, error")
	return cmd
}
