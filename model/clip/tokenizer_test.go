package clip

import (
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"testing"
)

// smallVocab is a handmade vocabulary in CLIP's format, far smaller than CLIP's, with ids
// that share nothing with CLIP's.
const smallVocab = `{"a": 0, "b": 1, "c": 2, "a</w>": 3, "b</w>": 4, "c</w>": 5,
 "ab": 6, "ab</w>": 7, "abc</w>": 8, "<|startoftext|>": 9, "<|endoftext|>": 10, "!": 11,
 "!</w>": 12, "'s</w>": 13}`

const smallMerges = "#version: 0.2\na b\nab c</w>\na b</w>\n' s</w>\n"

// writeTokenizerDir writes a tokenizer folder from file name → contents.
func writeTokenizerDir(t testing.TB, files map[string]string) string {
	t.Helper()
	dir := t.TempDir()
	for name, content := range files {
		if err := os.WriteFile(filepath.Join(dir, name), []byte(content), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	return dir
}

func smallTokenizer(t *testing.T, extra map[string]string) *Tokenizer {
	t.Helper()
	files := map[string]string{vocabFile: smallVocab, mergesFile: smallMerges}
	for k, v := range extra {
		files[k] = v
	}
	tok, err := LoadTokenizer(writeTokenizerDir(t, files))
	if err != nil {
		t.Fatal(err)
	}
	return tok
}

func TestSmallVocabEncode(t *testing.T) {
	tok := smallTokenizer(t, nil)
	for _, tc := range []struct {
		text string
		want []int
	}{
		{"abc", []int{8}},             // a b → ab, then ab c</w> → abc</w>
		{"ab", []int{7}},              // a b</w> ranks after a b, but a b never occurs
		{"ABC ab", []int{8, 7}},       // lowercased
		{"a  b\tc", []int{3, 4, 5}},   // whitespace splits words
		{"cab", []int{2, 7}},          // c, then a b</w>
		{"x", []int{10}},              // unknown symbol → unk (<|endoftext|>)
		{"a's", []int{3, 13}},         // contraction split off the word
		{"ab!!", []int{7, 11, 12}},    // "!!" is one pre-token: ! then !</w>
		{"<|startoftext|>", []int{9}}, // literal special token, no BPE
		{"", nil},
	} {
		if got := tok.Encode(tc.text); !slices.Equal(got, tc.want) {
			t.Errorf("Encode(%q) = %v, want %v (tokens %q)", tc.text, got, tc.want, tok.Tokens(tc.text))
		}
	}
	if tok.VocabSize() != 14 || tok.Len() != 14 {
		t.Errorf("VocabSize %d Len %d, want 14", tok.VocabSize(), tok.Len())
	}
	if tok.BOS() != 9 || tok.EOS() != 10 || tok.Pad() != 10 || tok.Unknown() != 10 || tok.MaxLength() != 77 {
		t.Errorf("specials bos %d eos %d pad %d unk %d max %d", tok.BOS(), tok.EOS(), tok.Pad(), tok.Unknown(), tok.MaxLength())
	}
}

func TestSmallVocabConfigAndPadding(t *testing.T) {
	tok := smallTokenizer(t, map[string]string{
		tokenizerConfigFile:  `{"model_max_length": 6, "pad_token": "<|endoftext|>", "bos_token": {"content": "<|startoftext|>", "lstrip": false}}`,
		specialTokensMapFile: `{"pad_token": "!"}`, // overrides tokenizer_config.json
	})
	if tok.MaxLength() != 6 || tok.Pad() != 11 {
		t.Fatalf("MaxLength %d Pad %d, want 6 and 11", tok.MaxLength(), tok.Pad())
	}
	for _, tc := range []struct {
		text string
		want []int
	}{
		{"", []int{9, 10, 11, 11, 11, 11}},
		{"abc", []int{9, 8, 10, 11, 11, 11}},
		{"a b c a", []int{9, 3, 4, 5, 3, 10}},
		{"a b c a b c", []int{9, 3, 4, 5, 3, 10}}, // truncated to MaxLength-2 ids
	} {
		if got := tok.EncodePadded(tc.text); !slices.Equal(got, tc.want) {
			t.Errorf("EncodePadded(%q) = %v, want %v", tc.text, got, tc.want)
		}
	}
}

func TestAddTokens(t *testing.T) {
	tok := smallTokenizer(t, nil)
	if got := tok.AddTokens("<new1>", "<new10>", "ab", "<new1>", ""); !slices.Equal(got, []int{14, 15, 6, 14, 10}) {
		t.Fatalf("AddTokens = %v, want [14 15 6 14 10] (vocab tokens and repeats keep their ids)", got)
	}
	if tok.Len() != 16 || !slices.Equal(tok.AddedTokens(), []string{"<new1>", "<new10>"}) {
		t.Fatalf("Len %d AddedTokens %q", tok.Len(), tok.AddedTokens())
	}
	for _, tc := range []struct {
		text string
		want []int
	}{
		{"<new1>", []int{14}},
		{"abc<new1>abc", []int{8, 14, 8}},         // matched inside a word
		{"<new10>", []int{15}},                    // longest match wins
		{"<new1>0", []int{14, 10}},                // "0" is not in the small vocab
		{"<NEW1>", []int{10, 10, 10, 10, 10, 10}}, // case-sensitive: BPE'd (to unknowns here)
		{"<new1> <new1>", []int{14, 14}},
	} {
		if got := tok.Encode(tc.text); !slices.Equal(got, tc.want) {
			t.Errorf("Encode(%q) = %v, want %v (tokens %q)", tc.text, got, tc.want, tok.Tokens(tc.text))
		}
	}
	if id, ok := tok.ID("<new10>"); !ok || id != 15 {
		t.Errorf(`ID("<new10>") = %d, %v`, id, ok)
	}
	if got := tok.LookupTokens("ab", "<new1>", "zzz"); !slices.Equal(got, []int{6, 14, 10}) {
		t.Errorf("LookupTokens = %v, want [6 14 10]", got)
	}
}

func TestAddedTokensFile(t *testing.T) {
	tok := smallTokenizer(t, map[string]string{addedTokensFile: `{"<b2>": 15, "<a1>": 14}`})
	if got := tok.Encode("<a1>ab<b2>"); !slices.Equal(got, []int{14, 7, 15}) {
		t.Errorf("Encode = %v, want [14 7 15]", got)
	}
	if got := tok.AddTokens("<c3>"); !slices.Equal(got, []int{16}) {
		t.Errorf("AddTokens after added_tokens.json = %v, want [16]", got)
	}
}

func TestDecode(t *testing.T) {
	tok := smallTokenizer(t, nil)
	tok.AddTokens("<new1>")
	got, err := tok.Decode(tok.Encode("abc ab <new1> c"))
	if err != nil || got != "abc ab <new1> c" {
		t.Errorf("Decode = %q, %v", got, err)
	}
	if _, err := tok.Decode([]int{3, 99}); err == nil || !strings.Contains(err.Error(), "99") {
		t.Errorf("Decode of an unknown id: error %v, want one naming 99", err)
	}
	if s, ok := tok.TokenString(8); !ok || s != "abc</w>" {
		t.Errorf("TokenString(8) = %q, %v", s, ok)
	}
}

func TestLoadTokenizerErrors(t *testing.T) {
	for _, tc := range []struct {
		name  string
		files map[string]string
		want  []string // substrings of the error
	}{
		{"no vocab", map[string]string{mergesFile: smallMerges}, []string{"vocab.json"}},
		{"no merges", map[string]string{vocabFile: smallVocab}, []string{"merges.txt"}},
		{"vocab not an object", map[string]string{vocabFile: `[1,2]`, mergesFile: smallMerges}, []string{"vocab.json", "object"}},
		{"vocab empty", map[string]string{vocabFile: `{}`, mergesFile: smallMerges}, []string{"vocab.json", "empty"}},
		{"ids not dense", map[string]string{vocabFile: `{"<|startoftext|>": 0, "<|endoftext|>": 5}`, mergesFile: smallMerges}, []string{"vocab.json", `"<|endoftext|>"`, "5"}},
		{"duplicate ids", map[string]string{vocabFile: `{"<|startoftext|>": 0, "<|endoftext|>": 0}`, mergesFile: smallMerges}, []string{"vocab.json", "share id 0"}},
		{"merges no header", map[string]string{vocabFile: smallVocab, mergesFile: "a b\n"}, []string{"merges.txt", "line 1", "#version"}},
		{"merges bad line", map[string]string{vocabFile: smallVocab, mergesFile: "#version: 0.2\na b\nabc\n"}, []string{"merges.txt", "line 3", `"abc"`}},
		{"merges repeated", map[string]string{vocabFile: smallVocab, mergesFile: "#version: 0.2\na b\na b\n"}, []string{"merges.txt", "line 3"}},
		{"bos not in vocab", map[string]string{vocabFile: smallVocab, mergesFile: smallMerges, tokenizerConfigFile: `{"bos_token": "<s>"}`}, []string{"bos_token", `"<s>"`, "vocab.json"}},
		{"pad empty", map[string]string{vocabFile: smallVocab, mergesFile: smallMerges, specialTokensMapFile: `{"pad_token": ""}`}, []string{"special_tokens_map.json", "pad_token", "empty"}},
		{"token object without content", map[string]string{vocabFile: smallVocab, mergesFile: smallMerges, tokenizerConfigFile: `{"eos_token": {"lstrip": true}}`}, []string{"tokenizer_config.json", "content"}},
		{"bad max length", map[string]string{vocabFile: smallVocab, mergesFile: smallMerges, tokenizerConfigFile: `{"model_max_length": 1.5}`}, []string{"tokenizer_config.json", "model_max_length", "1.5"}},
		{"config not JSON", map[string]string{vocabFile: smallVocab, mergesFile: smallMerges, tokenizerConfigFile: `{`}, []string{"tokenizer_config.json"}},
		{"added id gap", map[string]string{vocabFile: smallVocab, mergesFile: smallMerges, addedTokensFile: `{"<x>": 20}`}, []string{"added_tokens.json", `"<x>"`, "20", "14"}},
		{"added in vocab", map[string]string{vocabFile: smallVocab, mergesFile: smallMerges, addedTokensFile: `{"ab": 14}`}, []string{"added_tokens.json", `"ab"`}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, err := LoadTokenizer(writeTokenizerDir(t, tc.files))
			if err == nil {
				t.Fatal("LoadTokenizer succeeded")
			}
			for _, w := range tc.want {
				if !strings.Contains(err.Error(), w) {
					t.Errorf("error %q does not mention %q", err, w)
				}
			}
		})
	}
}

// TestConcurrentAddAndEncode runs AddTokens beside Encode (meaningful under -race).
func TestConcurrentAddAndEncode(t *testing.T) {
	tok := smallTokenizer(t, nil)
	var wg sync.WaitGroup
	for g := 0; g < 4; g++ {
		wg.Add(1)
		go func(g int) {
			defer wg.Done()
			for i := 0; i < 200; i++ {
				if g == 0 && i%20 == 0 {
					tok.AddTokens("<t" + string(rune('a'+i/20)) + ">")
				}
				if got := tok.EncodePadded("abc <ta> ab"); len(got) != 77 {
					t.Errorf("EncodePadded gave %d ids", len(got))
					return
				}
			}
		}(g)
	}
	wg.Wait()
	if tok.Len() != 24 {
		t.Errorf("Len = %d, want 24", tok.Len())
	}
}

func TestPretokenize(t *testing.T) {
	for _, tc := range []struct {
		text string
		want []string
	}{
		{"a dog's toy", []string{"a", "dog", "'s", "toy"}},
		{"isn't it?", []string{"isn", "'t", "it", "?"}},
		{"we're i've i'm we'll he'd", []string{"we", "'re", "i", "'ve", "i", "'m", "we", "'ll", "he", "'d"}},
		{"'x", []string{"'", "x"}},
		{"1234", []string{"1", "2", "3", "4"}},
		{"$5.00", []string{"$", "5", ".", "0", "0"}},
		{"stop-believing!!!", []string{"stop", "-", "believing", "!!!"}},
		{"<|startoftext|>x<|endoftext|>", []string{"<|startoftext|>", "x", "<|endoftext|>"}},
		{"!<|endoftext|>", []string{"!<|", "endoftext", "|>"}}, // the symbol run starts first
		{"東京の猫", []string{"東京の猫"}},
		{"🐕 x", []string{"🐕", "x"}},
		{"e\u0301", []string{"e", "\u0301"}}, // a combining mark is not a letter
		{"'ſ", []string{"'ſ"}},               // IGNORECASE: ſ folds to s
	} {
		if got := pretokenize(tc.text); !slices.Equal(got, tc.want) {
			t.Errorf("pretokenize(%q) = %q, want %q", tc.text, got, tc.want)
		}
	}
}

func TestCleanWhitespaceAndLower(t *testing.T) {
	if got := cleanWhitespace(" \t a \u00a0\u3000 b\n\x1c "); got != "a b" {
		t.Errorf("cleanWhitespace = %q", got)
	}
	for in, want := range map[string]string{"ΟΔΟΣ": "οδος", "İ": "i\u0307", "MiXeD": "mixed"} {
		if got := lowerCaser.String(in); got != want {
			t.Errorf("lower(%q) = %q, want %q (Python str.lower)", in, got, want)
		}
	}
}

func TestByteSymbols(t *testing.T) {
	seen := map[rune]bool{}
	for b := 0; b < 256; b++ {
		r := byteSymbols[b]
		if seen[r] || symbolBytes[r] != byte(b) {
			t.Fatalf("byte %d → %U is not a bijection", b, r)
		}
		seen[r] = true
	}
	if byteSymbols[' '] != 'Ġ' || byteSymbols['a'] != 'a' || byteSymbols[0] != 256 {
		t.Errorf("space → %c, a → %c, 0 → %U", byteSymbols[' '], byteSymbols['a'], byteSymbols[0])
	}
}
