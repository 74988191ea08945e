package clip

import (
	"testing"
)

// FuzzEncode checks on a small handmade vocabulary that encoding never panics, every id is
// a valid row (below Len) and the padded form is always MaxLength ids from BOS.
func FuzzEncode(f *testing.F) {
	for _, s := range []string{"", "abc", "a dog's <new1> toy!!", "&amp; <|endoftext|>", "東京 🐕", "\xff\xfe", "ab<new1>c<new1", "cafÃ© â€œxâ€\u009d"} {
		f.Add(s)
	}
	dir := writeTokenizerDir(f, map[string]string{vocabFile: smallVocab, mergesFile: smallMerges})
	tok, err := LoadTokenizer(dir)
	if err != nil {
		f.Fatal(err)
	}
	tok.AddTokens("<new1>")
	f.Fuzz(func(t *testing.T, s string) {
		for _, id := range tok.Encode(s) {
			if id < 0 || id >= tok.Len() {
				t.Fatalf("Encode(%q) gave id %d outside 0..%d", s, id, tok.Len()-1)
			}
		}
		padded := tok.EncodePadded(s)
		if len(padded) != tok.MaxLength() || padded[0] != tok.BOS() {
			t.Fatalf("EncodePadded(%q) = %v: want %d ids starting with BOS", s, padded, tok.MaxLength())
		}
		for _, id := range padded {
			if id < 0 || id >= tok.Len() {
				t.Fatalf("EncodePadded(%q) gave id %d outside 0..%d", s, id, tok.Len()-1)
			}
		}
	})
}
