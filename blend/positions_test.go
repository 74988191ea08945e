package blend

import (
	"strings"
	"testing"

	"github.com/latexblend/latexblend/internal/golden"
	"github.com/latexblend/latexblend/model/clip"
)

// wordTokenizer is a stand-in CLIP tokenizer: BOS 1, EOS 2, one id per word (words
// listed in multi split into two tokens), padded/truncated to 77 like the real one.
type wordTokenizer struct{ multi map[string]bool }

func (w wordTokenizer) Encode(text string) []int {
	var ids []int
	for _, f := range strings.Fields(strings.ToLower(text)) {
		id := 10
		for _, c := range f {
			id = id*31 + int(c)
		}
		id = id%40000 + 10
		ids = append(ids, id)
		if w.multi[f] {
			ids = append(ids, id+1)
		}
	}
	return ids
}

func (w wordTokenizer) EncodePadded(text string) []int {
	ids := w.Encode(text)
	if len(ids) > 75 {
		ids = ids[:75]
	}
	out := append([]int{1}, ids...)
	out = append(out, 2)
	for len(out) < 77 {
		out = append(out, 2)
	}
	return out
}

func (wordTokenizer) EOS() int { return 2 }

func TestFindSlots(t *testing.T) {
	tok := wordTokenizer{multi: map[string]bool{"sunglasses": true}}
	for _, tc := range []struct {
		prompt string
		nouns  []string
		want   [][2]int
	}{
		{"a dog playing a guitar in front of a castle", []string{"dog", "guitar", "castle"}, [][2]int{{1, 3}, {4, 6}, {9, 11}}},
		{"a dog wearing a sunglasses", []string{"sunglasses", "dog"}, [][2]int{{4, 7}, {1, 3}}},
		{"photo of a dog", []string{"dog"}, [][2]int{{3, 5}}},
		{"my dog and a dog", []string{"dog"}, [][2]int{{1, 3}}}, // first occurrence; the token before is overwritten
	} {
		got, err := FindSlots(tok, tc.prompt, tc.nouns)
		if err != nil {
			t.Fatalf("%q: %v", tc.prompt, err)
		}
		for i, s := range got {
			if s.Start != tc.want[i][0] || s.End != tc.want[i][1] || s.ClassNoun != tc.nouns[i] {
				t.Errorf("%q %s: [%d, %d), want %v", tc.prompt, tc.nouns[i], s.Start, s.End, tc.want[i])
			}
		}
	}
	long := "a " + strings.Repeat("very ", 80) + "big dog"
	for _, tc := range []struct {
		prompt string
		nouns  []string
		want   string
	}{
		{"a cat", []string{"dog"}, `class noun "dog" is not in the prompt`},
		{long, []string{"dog"}, "beyond the 77-token window"},
		{"dog on a mat", []string{"dog"}, "first word"},
		{"a dog and a cat", []string{"dog", "dog"}, "given twice"},
		{"a hot dog", []string{"hot", "dog"}, "overlap"},
		{"a dog", []string{""}, "has no tokens"},
	} {
		if _, err := FindSlots(tok, tc.prompt, tc.nouns); err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("%q %v: error %v, want %q", tc.prompt, tc.nouns, err, tc.want)
		}
	}
}

// TestFindSlotsGolden uses the real CLIP tokenizer on the golden cases' prompts; the
// positions must equal the reference's start/end and bind_dict.
func TestFindSlotsGolden(t *testing.T) {
	tok, err := clip.LoadTokenizer(golden.Path(t, "tokenizer"))
	if err != nil {
		t.Fatal(err)
	}
	got, err := FindSlots(tok, "a dog wearing a sunglasses", []string{"dog", "sunglasses"})
	if err != nil {
		t.Fatal(err)
	}
	if got[0].Start != 1 || got[0].End != 3 || got[1].Start != 4 || got[1].End != 6 {
		t.Errorf("slots %+v, want [1,3) and [4,6)", got)
	}
	if n := got[1].Nouns(); len(n) != 1 || n[0] != 5 {
		t.Errorf("sunglasses noun tokens %v, want [5] (bind 4 → 5)", n)
	}
	got, err = FindSlots(tok, "a dog playing a guitar, in front of a castle.", []string{"dog", "guitar", "castle"})
	if err != nil {
		t.Fatal(err)
	}
	// spec §3: dog → [1:3], guitar → [4:6], castle → [10:12].
	for i, w := range [][2]int{{1, 3}, {4, 6}, {10, 12}} {
		if got[i].Start != w[0] || got[i].End != w[1] {
			t.Errorf("%s: [%d, %d), want %v", got[i].ClassNoun, got[i].Start, got[i].End, w)
		}
	}
}
