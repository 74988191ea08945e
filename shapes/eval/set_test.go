package eval

import (
	"strings"
	"testing"
)

func TestPromptTexts(t *testing.T) {
	ps := Prompts()
	count := map[int]int{}
	for _, p := range ps {
		count[p.N()]++
	}
	if count[1] != 4 || count[2] != 4 || count[3] != 4 {
		t.Fatalf("prompt counts by concepts %v, want 4 each of 1, 2, 3", count)
	}
	tests := []struct {
		p                      Prompt
		plain, modified, words string
	}{
		{ps[0], "a photo of a star", "a photo of a <new1> star", "a photo of a checkered star"},
		{ps[4], "a star and a ring", "a <new1> star and a <new2> ring", "a checkered star and a rainbow ring"},
		{ps[8], "a star, a ring and a square", "a <new1> star, a <new2> ring and a <new3> square",
			"a checkered star, a rainbow ring and a dotted square"},
		{ps[9], "a ring, a square and a triangle", "a <new2> ring, a <new3> square and a <new4> triangle",
			"a rainbow ring, a dotted square and a striped triangle"},
	}
	for _, tc := range tests {
		if got := tc.p.Plain(); got != tc.plain {
			t.Errorf("%s plain %q, want %q", tc.p.Name(), got, tc.plain)
		}
		if got := tc.p.Modified(); got != tc.modified {
			t.Errorf("%s modified %q, want %q", tc.p.Name(), got, tc.modified)
		}
		if got := tc.p.Words(); got != tc.words {
			t.Errorf("%s words %q, want %q", tc.p.Name(), got, tc.words)
		}
	}
	sel, err := ParsePrompts([]string{"rainbow-ring", "checker-star+rainbow-ring"})
	if err != nil || len(sel) != 2 || sel[0].Name() != "rainbow-ring" || sel[1].N() != 2 {
		t.Errorf("ParsePrompts: %v, %v", sel, err)
	}
	if _, err := ParsePrompts([]string{"rainbow-star"}); err == nil || !strings.Contains(err.Error(), "rainbow-star") {
		t.Errorf("an unknown prompt gave %v", err)
	}
	seen := map[string]bool{}
	for _, c := range Concepts() {
		if seen[c.Token] {
			t.Errorf("token %s used twice", c.Token)
		}
		seen[c.Token] = true
	}
}

// TestOrdinalWords: each concept's words after as many plain objects of classes the
// prompt does not ask for as it has concepts before it; out-of-range concepts are
// refused.
func TestOrdinalWords(t *testing.T) {
	ps := Prompts()
	for _, tc := range []struct {
		pr   Prompt
		i    int
		want string
	}{
		{ps[0], 0, "a photo of a checkered star"},
		{ps[4], 0, "a photo of a checkered star"}, // checker-star + rainbow-ring
		{ps[4], 1, "a circle and a rainbow ring"},
		{ps[8], 2, "a circle, a triangle and a dotted square"}, // checker-star + rainbow-ring + dotted-square
	} {
		got, err := tc.pr.OrdinalWords(tc.i)
		if err != nil || got != tc.want {
			t.Errorf("%s concept %d: %q, %v; want %q", tc.pr.Name(), tc.i, got, err, tc.want)
		}
	}
	for _, i := range []int{-1, 2} {
		if _, err := ps[4].OrdinalWords(i); err == nil || !strings.Contains(err.Error(), ps[4].Name()) {
			t.Errorf("concept %d of a two-concept prompt: %v, want an error naming the prompt", i, err)
		}
	}
}
