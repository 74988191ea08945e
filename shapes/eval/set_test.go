package eval

import (
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
		p               Prompt
		plain, modified string
	}{
		{ps[0], "a photo of a star", "a photo of a <new1> star"},
		{ps[4], "a star and a ring", "a <new1> star and a <new2> ring"},
		{ps[8], "a star, a ring and a square", "a <new1> star, a <new2> ring and a <new3> square"},
		{ps[9], "a ring, a square and a triangle", "a <new2> ring, a <new3> square and a <new4> triangle"},
	}
	for _, tc := range tests {
		if got := tc.p.Plain(); got != tc.plain {
			t.Errorf("%s plain %q, want %q", tc.p.Name(), got, tc.plain)
		}
		if got := tc.p.Modified(); got != tc.modified {
			t.Errorf("%s modified %q, want %q", tc.p.Name(), got, tc.modified)
		}
	}
	seen := map[string]bool{}
	for _, c := range Concepts() {
		if seen[c.Token] {
			t.Errorf("token %s used twice", c.Token)
		}
		seen[c.Token] = true
	}
}
