package trainer

import (
	"strings"
	"testing"

	"github.com/latexblend/latexblend/internal/golden"
	"github.com/latexblend/latexblend/model/clip"
)

func TestInitTokenEntry(t *testing.T) {
	load := func(dir string) *clip.Tokenizer {
		t.Helper()
		tok, err := clip.LoadTokenizer(dir)
		if err != nil {
			t.Fatal(err)
		}
		return tok
	}
	// The shapes world's vocabulary holds whole words only: "ktn</w>".
	shapesTok := load("../shapes/assets/tokenizer")
	if got, err := initTokenEntry(shapesTok, shapesTok, "ktn"); err != nil || got != "ktn</w>" {
		t.Errorf("shapes tokenizer: %q, %v; want ktn</w>", got, err)
	}
	if _, err := initTokenEntry(shapesTok, shapesTok, "zzqx"); err == nil || !strings.Contains(err.Error(), `"zzqx"`) {
		t.Errorf("unknown init word: %v", err)
	}
	// CLIP's vocabulary has "ktn" itself (id 42170), which the reference uses.
	clipTok := load(golden.Path(t, "tiny-sdxl", "tokenizer"))
	if got, err := initTokenEntry(clipTok, clipTok, "ktn"); err != nil || got != "ktn" {
		t.Errorf("CLIP tokenizer: %q, %v; want ktn", got, err)
	}
}
