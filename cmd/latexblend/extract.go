package main

import (
	"fmt"
	"time"

	"github.com/spf13/cobra"

	"github.com/latexblend/latexblend/blend"
	"github.com/latexblend/latexblend/trainer"
)

func init() { subcommands = append(subcommands, newExtractCmd) }

// newExtractCmd turns a delta into a concept-bank entry.
func newExtractCmd() *cobra.Command {
	var modelDir, deltaPath, out string
	var opts trainer.ExtractOptions
	cmd := &cobra.Command{
		Use:   "extract --model DIR --delta FILE [--class NOUN] [--token TOKEN] [--prompt TEXT] [--places N --fillers NOUN,…] --out ENTRY.safetensors",
		Short: "Extract a concept-bank entry (K/V of the modifier slot + noun in every attn2 layer) from a delta",
		Long: `Encodes the concept prompt (default "photo of <token> <noun>") with the delta's token rows,
computes K and V with the delta's to_k/to_v of every cross-attention layer, keeps the rows
of the modifier slot and the noun tokens (found as the reference finds them: the noun's
first occurrence in the plain prompt, the slot before it), and writes a latexblend.entry/v1
file (per layer <module>.k and <module>.v, [n_tok, C] float32).

--places N (an extension of the reference's bank) adds the same rows for places 2 … N,
each taken from the concept after k−1 plain objects ("a circle and <token> <noun>", the
fillers from --fillers in order). A blend then gives each concept the rows of its place
among the prompt's concepts, so that in a prompt of several objects the entry does not
say "the first object" for all of them (docs/blend.md, "Per-place rows").

The last line is layers=… n_tok=… class=… token=… places=… seconds=… out=…`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			switch {
			case modelDir == "":
				return fmt.Errorf("extract: --model DIR is required")
			case deltaPath == "":
				return fmt.Errorf("extract: --delta FILE is required")
			case out == "":
				return fmt.Errorf("extract: --out ENTRY.safetensors is required")
			}
			start := time.Now()
			d, err := trainer.ReadDelta(deltaPath)
			if err != nil {
				return fmt.Errorf("extract: %w", err)
			}
			base, err := trainer.LoadBase(modelDir, false)
			if err != nil {
				return fmt.Errorf("extract: %w", err)
			}
			defer base.Close()
			e, err := trainer.Extract(base, d, opts)
			if err != nil {
				return err
			}
			if err := blend.WriteEntry(out, e); err != nil {
				return fmt.Errorf("extract: %w", err)
			}
			_, err = fmt.Fprintf(cmd.OutOrStdout(), "layers=%d n_tok=%d class=%q token=%s places=%d seconds=%.2f out=%s\n",
				len(e.Layers), e.NTok, e.ClassNoun, e.ModifierToken, e.NumPlaces(), time.Since(start).Seconds(), out)
			return err
		},
	}
	f := cmd.Flags()
	f.StringVar(&modelDir, "model", "", "SDXL diffusers model folder the delta was trained on")
	f.StringVar(&deltaPath, "delta", "", "delta file (latexblend.delta/v1)")
	f.StringVar(&opts.ClassNoun, "class", "", "class noun (default: the delta's)")
	f.StringVar(&opts.Token, "token", "", "modifier token (default: the delta's)")
	f.StringVar(&opts.Prompt, "prompt", "", `concept prompt (default "photo of <token> <noun>")`)
	f.IntVar(&opts.Places, "places", 1, "places to extract rows for (1: the bank entry alone)")
	f.StringSliceVar(&opts.Fillers, "fillers", nil, "plain nouns put before the concept for places 2 … N (at least N-1, none the class noun), e.g. circle,square")
	f.StringVar(&out, "out", "", "entry file to write")
	return cmd
}
