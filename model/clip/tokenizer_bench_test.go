package clip

import (
	"testing"

	"github.com/latexblend/latexblend/internal/golden"
)

func BenchmarkLoadTokenizer(b *testing.B) {
	dir := golden.Path(b, "tiny-sdxl", "tokenizer_2")
	for b.Loop() {
		if _, err := LoadTokenizer(dir); err != nil {
			b.Fatal(err)
		}
	}
}

// BenchmarkEncodePadded measures a typical prompt; after the first iteration its words come
// from the BPE cache, so this is text fixing, pre-tokenisation and lookup.
func BenchmarkEncodePadded(b *testing.B) {
	tok, err := LoadTokenizer(golden.Path(b, "tiny-sdxl", "tokenizer_2"))
	if err != nil {
		b.Fatal(err)
	}
	tok.AddTokens("<new1>")
	const prompt = "A close-up, detailed photo of <new1> dog wearing sunglasses on a café terrace, highly detailed"
	for b.Loop() {
		tok.EncodePadded(prompt)
	}
}
