package blend

import (
	"slices"
	"strings"
	"testing"

	"github.com/latexblend/latexblend/model/clip"
)

// FuzzFindSlots runs the prompt parser on the shapes world's real BPE tokenizer (it is
// committed, so the fuzzer needs no golden files). For any prompt and up to four class
// nouns it either fails with a blend error or returns one slot per noun, in order, such
// that: the slot lies inside the 77-token window after BOS; its noun positions hold
// exactly the noun's tokens; no two slots overlap; and the concepts' places are 1 … n.
func FuzzFindSlots(f *testing.F) {
	tok, err := clip.LoadTokenizer("../shapes/assets/tokenizer")
	if err != nil {
		f.Fatal(err)
	}
	for _, seed := range [][2]string{
		{"a photo of a red circle and a blue square", "circle,square"},
		{"a star on the left of a ring", "ring,star"},
		{"star and a star", "star"},
		{"a checkered star", "checkered star"},
		{"a circle, a square and a star", "star,circle,square"},
		{strings.Repeat("a red circle ", 30) + "a star", "star"},
		{"a photo of a dog", "dog,"},
		{"ЖЖ a circle\x00", "circle"},
	} {
		f.Add(seed[0], seed[1])
	}
	f.Fuzz(func(t *testing.T, prompt, nounList string) {
		nouns := strings.Split(nounList, ",")
		if len(nouns) > 4 {
			nouns = nouns[:4]
		}
		slots, err := FindSlots(tok, prompt, nouns)
		if err != nil {
			if !strings.HasPrefix(err.Error(), "blend: ") {
				t.Fatalf("%q %q: error without the package prefix: %v", prompt, nouns, err)
			}
			return
		}
		if len(slots) != len(nouns) {
			t.Fatalf("%q %q: %d slots", prompt, nouns, len(slots))
		}
		ids := tok.EncodePadded(prompt)
		var places []int
		for i, s := range slots {
			nids := stripSpecial(tok.EncodePadded(s.ClassNoun), tok.EOS())
			switch {
			case s.ClassNoun != nouns[i]:
				t.Fatalf("%q: slot %d is for %q, want %q", prompt, i, s.ClassNoun, nouns[i])
			case s.Start < 1 || s.End > len(ids)-1 || s.Len() != len(nids)+1:
				t.Fatalf("%q %q: slot [%d, %d) for a noun of %d tokens", prompt, s.ClassNoun, s.Start, s.End, len(nids))
			}
			got := make([]int, 0, len(nids))
			for _, p := range s.Nouns() {
				got = append(got, ids[p])
			}
			if !slices.Equal(got, nids) {
				t.Fatalf("%q %q: slot [%d, %d) holds %v, the noun is %v", prompt, s.ClassNoun, s.Start, s.End, got, nids)
			}
			for _, o := range slots[:i] {
				if s.Start < o.End && o.Start < s.End {
					t.Fatalf("%q: slots %+v and %+v overlap", prompt, o, s)
				}
			}
			places = append(places, ConceptPlace(slots, i))
		}
		slices.Sort(places)
		for i, p := range places {
			if p != i+1 {
				t.Fatalf("%q %q: places %v, want 1 … %d", prompt, nouns, places, len(slots))
			}
		}
	})
}
