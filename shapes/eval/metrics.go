package eval

import (
	"fmt"
	"math"

	"github.com/latexblend/latexblend/shapes/judge"
)

// Judged is one generated image of a prompt and the judge's verdict on it.
type Judged struct {
	Prompt  Prompt
	Verdict judge.Verdict
}

// Score aggregates verdicts of images whose prompts ask for the same number of
// concepts.
//
//   - Fidelity: over (image, asked concept) pairs, the fraction where the judge finds
//     the concept's texture on an object of the concept's class.
//   - AllFound: the fraction of images where every asked concept is found.
//   - PromptFidelity: the fraction of images where every asked class is present.
//   - Bleeding: over (image, asked concept) pairs, the fraction where the concept's
//     texture is seen on an object of another class.
type Score struct {
	Images, Pairs                                int
	Fidelity, AllFound, PromptFidelity, Bleeding float64
}

// ScoreImages computes the Score of a set of judged images. It refuses a verdict whose
// label vector does not have judge.NumLabels entries. An empty set scores NaN.
func ScoreImages(items []Judged) (Score, error) {
	var s Score
	var found, all, prompt, bleed int
	for i, it := range items {
		if len(it.Verdict.Probs) != judge.NumLabels {
			return Score{}, fmt.Errorf("eval: verdict %d (%s) has %d labels, want %d", i, it.Prompt.Name(), len(it.Verdict.Probs), judge.NumLabels)
		}
		s.Images++
		every := true
		for _, c := range it.Prompt.Concepts {
			s.Pairs++
			if it.Verdict.ConceptFound(c.Concept) {
				found++
			} else {
				every = false
			}
			if len(it.Verdict.Bleeds(c.Concept)) > 0 {
				bleed++
			}
		}
		if every {
			all++
		}
		classes := true
		for _, k := range it.Prompt.Classes() {
			classes = classes && it.Verdict.HasClass(k)
		}
		if classes {
			prompt++
		}
	}
	s.Fidelity = ratio(found, s.Pairs)
	s.Bleeding = ratio(bleed, s.Pairs)
	s.AllFound = ratio(all, s.Images)
	s.PromptFidelity = ratio(prompt, s.Images)
	return s, nil
}

// scoreByCount scores each concept count's judged images.
func scoreByCount(byCount map[int][]Judged) (map[int]Score, error) {
	out := make(map[int]Score, len(byCount))
	for n, items := range byCount {
		s, err := ScoreImages(items)
		if err != nil {
			return nil, err
		}
		out[n] = s
	}
	return out, nil
}

// ratio is a/b, NaN when b is 0 (nothing was measured).
func ratio(a, b int) float64 {
	if b == 0 {
		return nan
	}
	return float64(a) / float64(b)
}

var nan = math.NaN()
