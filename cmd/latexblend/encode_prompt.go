package main

import (
	"fmt"

	"github.com/spf13/cobra"

	"github.com/latexblend/latexblend/model/safetensors"
	"github.com/latexblend/latexblend/model/sdxl"
)

func init() { subcommands = append(subcommands, newEncodePromptCmd) }

// newEncodePromptCmd writes the SDXL conditioning of one prompt, for use by other tools
// and for checking our text encoders against other implementations.
func newEncodePromptCmd() *cobra.Command {
	var (
		modelDir, prompt, out, initToken string
		addTokens                        []string
	)
	cmd := &cobra.Command{
		Use:   "encode-prompt --model DIR --prompt TEXT [--add-token TOKEN]... --out FILE.safetensors",
		Short: "Encode a prompt with an SDXL model's two CLIP text encoders into a safetensors file",
		Long: `Runs diffusers' StableDiffusionXLPipeline.encode_prompt for one prompt (no guidance)
with the tokenizers and text encoders of the diffusers model folder DIR, and writes
  prompt_embeds        [1, 77, D]  both encoders' penultimate hidden states, joined (D = 2048 for SDXL)
  pooled_prompt_embeds [1, P]      text_encoder_2's projected pooled output (P = 1280 for SDXL)
as float32 safetensors. --add-token registers a whole-string token such as "<new1>" in both
tokenizers first (ids from the vocabulary size on, in flag order) and appends embedding rows
copied from the vocabulary entry --init-token (default "ktn", the training scripts' default).`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			switch {
			case modelDir == "":
				return fmt.Errorf("encode-prompt: --model DIR is required")
			case out == "":
				return fmt.Errorf("encode-prompt: --out FILE.safetensors is required")
			case !cmd.Flags().Changed("prompt"):
				return fmt.Errorf("encode-prompt: --prompt TEXT is required (it may be empty)")
			}
			enc, err := sdxl.LoadPromptEncoder(modelDir)
			if err != nil {
				return fmt.Errorf("encode-prompt: %w", err)
			}
			defer enc.Close()
			if _, err := enc.AddTokens(addTokens, []string{initToken}); err != nil {
				return fmt.Errorf("encode-prompt: --add-token: %w", err)
			}
			res, err := enc.EncodePrompt(sdxl.PromptRequest{Prompts: []string{prompt}})
			if err != nil {
				return fmt.Errorf("encode-prompt: %w", err)
			}
			tensors := []safetensors.Tensor{
				{Name: "prompt_embeds", Shape: res.PromptEmbeds.Shape().Clone(), F32: res.PromptEmbeds.Data().([]float32)},
				{Name: "pooled_prompt_embeds", Shape: res.PooledPromptEmbeds.Shape().Clone(), F32: res.PooledPromptEmbeds.Data().([]float32)},
			}
			meta := map[string]string{"format": "pt", "prompt": prompt}
			if err := safetensors.WriteFile(out, tensors, meta); err != nil {
				return fmt.Errorf("encode-prompt: %w", err)
			}
			_, err = fmt.Fprintf(cmd.OutOrStdout(), "prompt_embeds=%v pooled_prompt_embeds=%v out=%s\n",
				[]int(res.PromptEmbeds.Shape()), []int(res.PooledPromptEmbeds.Shape()), out)
			return err
		},
	}
	f := cmd.Flags()
	f.StringVar(&modelDir, "model", "", "SDXL diffusers model folder (model_index.json, tokenizer*/, text_encoder*/)")
	f.StringVar(&prompt, "prompt", "", "the prompt text")
	f.StringArrayVar(&addTokens, "add-token", nil, "token to add to both tokenizers before encoding, matched as a whole string (repeatable)")
	f.StringVar(&initToken, "init-token", "ktn", "vocabulary entry whose embedding rows the added tokens start from")
	f.StringVar(&out, "out", "", "safetensors file to write")
	return cmd
}
