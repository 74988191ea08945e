package main

import (
	"encoding/json"
	"fmt"

	"github.com/spf13/cobra"

	"github.com/latexblend/latexblend/model/clip"
)

func init() { subcommands = append(subcommands, newTokenizeCmd) }

// newTokenizeCmd prints the padded CLIP ids of a prompt, for checking the tokenizer against
// other implementations.
func newTokenizeCmd() *cobra.Command {
	var (
		dir       string
		addTokens []string
	)
	cmd := &cobra.Command{
		Use:   "tokenize --tokenizer DIR [--add-token TOKEN]... TEXT",
		Short: "Print the padded CLIP token ids of TEXT as a JSON array",
		Long: "Tokenize TEXT with the CLIP BPE tokenizer in DIR (a diffusers tokenizer/ or tokenizer_2/ folder)\n" +
			"as transformers' tokenizer(TEXT, padding=\"max_length\", max_length=77, truncation=True) does:\n" +
			"BOS, the ids, EOS, then the folder's pad id, model_max_length (77) ids on one line.\n" +
			"--add-token registers a whole-string token first (ids from the vocabulary size on, in flag order).",
		Args: cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			if dir == "" {
				return fmt.Errorf("tokenize: --tokenizer DIR is required")
			}
			tok, err := clip.LoadTokenizer(dir)
			if err != nil {
				return fmt.Errorf("tokenize: %w", err)
			}
			for _, a := range addTokens {
				if a == "" {
					return fmt.Errorf("tokenize: --add-token: empty token")
				}
			}
			tok.AddTokens(addTokens...)
			line, err := json.Marshal(tok.EncodePadded(args[0]))
			if err != nil {
				return fmt.Errorf("tokenize: %w", err)
			}
			_, err = fmt.Fprintf(cmd.OutOrStdout(), "%s\n", line)
			return err
		},
	}
	cmd.Flags().StringVar(&dir, "tokenizer", "", "tokenizer folder with vocab.json and merges.txt (e.g. MODEL/tokenizer_2)")
	cmd.Flags().StringArrayVar(&addTokens, "add-token", nil, "token to add before tokenizing, matched as a whole string (repeatable)")
	return cmd
}
