package clip

import (
	"encoding/json"
	"os"
	"slices"
	"testing"

	"github.com/latexblend/latexblend/internal/golden"
)

// goldenTokenizerCase is one entry of golden/tokenizer/cases.json.
type goldenTokenizerCase struct {
	Prompt      string   `json:"prompt"`
	AddedTokens []string `json:"added_tokens"`
	Tok1IDs     []int    `json:"tok1_ids_ftfy"`
	Tok2IDs     []int    `json:"tok2_ids_ftfy"`
}

func readGoldenTokenizerCases(t *testing.T) []goldenTokenizerCase {
	t.Helper()
	path := golden.Path(t, "tokenizer", "cases.json")
	data, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	var file struct {
		Cases []goldenTokenizerCase `json:"cases"`
	}
	if err := json.Unmarshal(data, &file); err != nil {
		t.Fatalf("%s: %v", path, err)
	}
	if len(file.Cases) != 75 {
		t.Fatalf("%s: %d cases, want 75", path, len(file.Cases))
	}
	return file.Cases
}

func loadGoldenTokenizer(t *testing.T, elem ...string) *Tokenizer {
	t.Helper()
	tok, err := LoadTokenizer(golden.Path(t, elem...))
	if err != nil {
		t.Fatal(err)
	}
	return tok
}

// TestGoldenCases checks every id of the reference tokenizers (transformers 4.30.2 slow
// CLIPTokenizer with ftfy 6.1.1) for all 75 prompts, before and after adding <new1>/<new2>,
// for SDXL's tokenizer (pad <|endoftext|>), tokenizer_2 (pad "!") and the bare vocab.json +
// merges.txt folder (defaults, no config files).
func TestGoldenCases(t *testing.T) {
	cases := readGoldenTokenizerCases(t)
	for _, tc := range []struct {
		name   string
		folder []string
		want   func(goldenTokenizerCase) []int
	}{
		{"tokenizer", []string{"tiny-sdxl", "tokenizer"}, func(c goldenTokenizerCase) []int { return c.Tok1IDs }},
		{"tokenizer_2", []string{"tiny-sdxl", "tokenizer_2"}, func(c goldenTokenizerCase) []int { return c.Tok2IDs }},
		{"bare", []string{"tokenizer"}, func(c goldenTokenizerCase) []int { return c.Tok1IDs }},
	} {
		t.Run(tc.name, func(t *testing.T) {
			fresh := loadGoldenTokenizer(t, tc.folder...)
			withAdded := loadGoldenTokenizer(t, tc.folder...)
			for i, c := range cases {
				tok := fresh
				if len(c.AddedTokens) > 0 {
					tok = withAdded
					for _, a := range c.AddedTokens {
						if _, ok := tok.ID(a); !ok {
							tok.AddTokens(a)
						}
					}
				}
				got := tok.EncodePadded(c.Prompt)
				if want := tc.want(c); !slices.Equal(got, want) {
					t.Errorf("case %d %q (added %v):\n got %v\nwant %v\ntokens %q",
						i, c.Prompt, c.AddedTokens, got, want, tok.Tokens(c.Prompt))
				}
			}
		})
	}
}

func TestGoldenSpecialIDs(t *testing.T) {
	for _, tc := range []struct {
		folder        []string
		bos, eos, pad int
	}{
		{[]string{"tiny-sdxl", "tokenizer"}, 49406, 49407, 49407},
		{[]string{"tiny-sdxl", "tokenizer_2"}, 49406, 49407, 0},
		{[]string{"tokenizer"}, 49406, 49407, 49407},
	} {
		tok := loadGoldenTokenizer(t, tc.folder...)
		if tok.BOS() != tc.bos || tok.EOS() != tc.eos || tok.Pad() != tc.pad || tok.MaxLength() != 77 {
			t.Errorf("%v: bos %d eos %d pad %d max %d, want %d %d %d 77",
				tc.folder, tok.BOS(), tok.EOS(), tok.Pad(), tok.MaxLength(), tc.bos, tc.eos, tc.pad)
		}
		if tok.VocabSize() != 49408 || tok.Len() != 49408 {
			t.Errorf("%v: vocab size %d len %d, want 49408", tc.folder, tok.VocabSize(), tok.Len())
		}
		if got := tok.AddTokens("<new1>", "<new2>", "<new1>"); !slices.Equal(got, []int{49408, 49409, 49408}) {
			t.Errorf("%v: AddTokens = %v, want [49408 49409 49408]", tc.folder, got)
		}
		if tok.Len() != 49410 {
			t.Errorf("%v: Len after adding = %d, want 49410", tc.folder, tok.Len())
		}
	}
}

// TestGoldenInitializerToken checks the reference training script's initializer lookup:
// tokenizer.encode(["ktn"], add_special_tokens=False) is a raw vocabulary lookup.
func TestGoldenInitializerToken(t *testing.T) {
	tok := loadGoldenTokenizer(t, "tiny-sdxl", "tokenizer_2")
	if got := tok.LookupTokens("ktn", "pll", "ucd", "pll</w>", "dog", "no-such-token"); !slices.Equal(got, []int{42170, 47629, 44746, 25266, 4326, 49407}) {
		t.Errorf("LookupTokens = %v, want [42170 47629 44746 25266 4326 49407]", got)
	}
	if got := tok.Encode("ktn"); !slices.Equal(got, []int{74, 7248}) {
		t.Errorf(`Encode("ktn") = %v, want [74 7248]`, got)
	}
	if id, ok := tok.ID("ktn"); !ok || id != 42170 {
		t.Errorf(`ID("ktn") = %d, %v; want 42170, true`, id, ok)
	}
	if _, ok := tok.ID("no-such-token"); ok {
		t.Error(`ID("no-such-token") found`)
	}
}

// TestGoldenSpecVectors checks the test vectors of spec/sdxl-custom-diffusion.md §3.4.
func TestGoldenSpecVectors(t *testing.T) {
	tok := loadGoldenTokenizer(t, "tiny-sdxl", "tokenizer")
	for _, tc := range []struct {
		text string
		want []int
	}{
		{"a photo of a cat", []int{320, 1125, 539, 320, 2368}},
		{"Hello, world!", []int{3306, 267, 1002, 256}},
		{"A PHOTO of  a Cat!", []int{320, 1125, 539, 320, 2368, 256}},
		{"don't stop 42 times", []int{847, 713, 1691, 275, 273, 1661}},
		{"", nil},
		{"a sks dog", []int{320, 48136, 1929}},
	} {
		if got := tok.Encode(tc.text); !slices.Equal(got, tc.want) {
			t.Errorf("Encode(%q) = %v, want %v", tc.text, got, tc.want)
		}
	}
	if got, want := tok.Tokens("a dog's toy"), []string{"a</w>", "dog</w>", "'s</w>", "toy</w>"}; !slices.Equal(got, want) {
		t.Errorf("Tokens = %q, want %q", got, want)
	}
}
