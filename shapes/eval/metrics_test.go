package eval

import (
	"math"
	"testing"

	"github.com/latexblend/latexblend/shapes"
	"github.com/latexblend/latexblend/shapes/judge"
)

// verdict builds a judge verdict with the given labels present (probability 0.9) and
// every other label absent (0.1).
func verdict(labels ...int) judge.Verdict {
	v := judge.Verdict{Probs: make([]float32, judge.NumLabels)}
	for i := range v.Probs {
		v.Probs[i] = 0.1
	}
	for _, l := range labels {
		v.Probs[l] = 0.9
	}
	return v
}

func mustConcept(t *testing.T, name string) EvalConcept {
	t.Helper()
	c, err := LookupConcept(name)
	if err != nil {
		t.Fatal(err)
	}
	return c
}

func TestScoreImages(t *testing.T) {
	star, ring := mustConcept(t, "checker-star"), mustConcept(t, "rainbow-ring")
	two := Prompt{Concepts: []EvalConcept{star, ring}}
	one := Prompt{Concepts: []EvalConcept{star}}
	cls := judge.ClassLabel
	pair := judge.PairLabel
	tests := []struct {
		name  string
		items []Judged
		want  Score
	}{
		{
			name: "both concepts on their objects",
			items: []Judged{{two, verdict(cls(shapes.Star), cls(shapes.Ring),
				pair(shapes.Checker, shapes.Star), pair(shapes.Rainbow, shapes.Ring))}},
			want: Score{Images: 1, Pairs: 2, Fidelity: 1, AllFound: 1, PromptFidelity: 1, Bleeding: 0},
		},
		{
			name:  "plain objects: classes right, no concept",
			items: []Judged{{two, verdict(cls(shapes.Star), cls(shapes.Ring))}},
			want:  Score{Images: 1, Pairs: 2, Fidelity: 0, AllFound: 0, PromptFidelity: 1, Bleeding: 0},
		},
		{
			name: "checker bleeds onto the ring",
			items: []Judged{{two, verdict(cls(shapes.Star), cls(shapes.Ring),
				pair(shapes.Checker, shapes.Star), pair(shapes.Checker, shapes.Ring))}},
			want: Score{Images: 1, Pairs: 2, Fidelity: 0.5, AllFound: 0, PromptFidelity: 1, Bleeding: 0.5},
		},
		{
			name:  "texture on the wrong class only: a miss and a bleed, the star missing",
			items: []Judged{{one, verdict(cls(shapes.Cross), pair(shapes.Checker, shapes.Cross))}},
			want:  Score{Images: 1, Pairs: 1, Fidelity: 0, AllFound: 0, PromptFidelity: 0, Bleeding: 1},
		},
		{
			name:  "another concept's texture on the asked object is not this concept",
			items: []Judged{{one, verdict(cls(shapes.Star), pair(shapes.Rainbow, shapes.Star))}},
			want:  Score{Images: 1, Pairs: 1, Fidelity: 0, AllFound: 0, PromptFidelity: 1, Bleeding: 0},
		},
		{
			name: "averages over images and pairs",
			items: []Judged{
				{two, verdict(cls(shapes.Star), cls(shapes.Ring), pair(shapes.Checker, shapes.Star), pair(shapes.Rainbow, shapes.Ring))},
				{two, verdict(cls(shapes.Star), pair(shapes.Checker, shapes.Star))},
				{two, verdict(cls(shapes.Ring), pair(shapes.Rainbow, shapes.Ring), pair(shapes.Rainbow, shapes.Square))},
				{two, verdict()},
			},
			// found: 2+1+1+0 of 8; all: 1 of 4; classes: 1 of 4; bleeds: rainbow on square once.
			want: Score{Images: 4, Pairs: 8, Fidelity: 0.5, AllFound: 0.25, PromptFidelity: 0.25, Bleeding: 0.125},
		},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			got, err := ScoreImages(tc.items)
			if err != nil {
				t.Fatal(err)
			}
			if got != tc.want {
				t.Errorf("got %+v, want %+v", got, tc.want)
			}
		})
	}
}

func TestScoreImagesThreshold(t *testing.T) {
	star := mustConcept(t, "checker-star")
	v := verdict(judge.ClassLabel(shapes.Star))
	v.Probs[judge.PairLabel(shapes.Checker, shapes.Star)] = judge.Threshold // not above: absent
	got, err := ScoreImages([]Judged{{Prompt{Concepts: []EvalConcept{star}}, v}})
	if err != nil {
		t.Fatal(err)
	}
	if got.Fidelity != 0 || got.PromptFidelity != 1 {
		t.Errorf("a label exactly at the threshold counted as found: %+v", got)
	}
}

func TestScoreImagesEmptyAndBad(t *testing.T) {
	s, err := ScoreImages(nil)
	if err != nil {
		t.Fatal(err)
	}
	if s.Images != 0 || !math.IsNaN(s.Fidelity) || !math.IsNaN(s.Bleeding) || !math.IsNaN(s.PromptFidelity) {
		t.Errorf("empty set: got %+v, want zero counts and NaN rates", s)
	}
	star := mustConcept(t, "checker-star")
	_, err = ScoreImages([]Judged{{Prompt{Concepts: []EvalConcept{star}}, judge.Verdict{Probs: make([]float32, 3)}}})
	if err == nil {
		t.Fatal("a verdict with 3 labels was accepted")
	}
}

func TestReportLineAndTargets(t *testing.T) {
	r := &Report{Steps: 2, Seeds: 1, Binding: true, Counts: []int{2, 3}, Ceiling: Ceiling{JudgeRecall: nan, VAERecall: nan}, Methods: []MethodResult{
		{Method: Replace, Images: 2, Seconds: 3, Scores: map[int]Score{
			2: {Fidelity: 0.95, Bleeding: 0.0}, 3: {Fidelity: 0.8, Bleeding: 0.04}}},
		{Method: Merged, Images: 2, Seconds: 2, Scores: map[int]Score{
			2: {Fidelity: 0.7}, 3: {Fidelity: 0.5}}},
	}}
	fid2, fid3, bleed, margin := r.Targets()
	if !fid2 || !fid3 || !bleed || !margin {
		t.Errorf("targets %v %v %v %v, want all met", fid2, fid3, bleed, margin)
	}
	r.Methods[1].Scores[2] = Score{Fidelity: 0.8} // margin 0.15 < 0.2
	if _, _, _, margin := r.Targets(); margin {
		t.Error("a 0.15 margin over merged met the 0.2 target")
	}
	kv := parseLine(t, r.Line())
	for key, want := range map[string]string{
		"replace_fidelity_2": "0.9500", "replace_fidelity_3": "0.8000", "replace_fidelity_1": "nan",
		"merged_fidelity_2": "0.8000", "replace_sec_per_image": "1.500", "target_margin": "false",
		"judge_recall": "nan", "binding": "true",
	} {
		if kv[key] != want {
			t.Errorf("%s=%q, want %q", key, kv[key], want)
		}
	}
}

func TestBlendOptions(t *testing.T) {
	for _, tc := range []struct {
		m                         Method
		binding                   bool
		guidance, rectify, noBind bool
	}{
		{Replace, false, false, false, true},
		{Replace, true, false, false, false},
		{Guidance, false, true, false, true},
		{Rectify, true, true, true, false},
	} {
		o := tc.m.blendOptions(20, 0, tc.binding)
		if o.Guidance != tc.guidance || o.Rectification != tc.rectify || o.NoBinding != tc.noBind {
			t.Errorf("%s, binding %v: guidance %v, rectification %v, no binding %v; want %v, %v, %v",
				tc.m, tc.binding, o.Guidance, o.Rectification, o.NoBinding, tc.guidance, tc.rectify, tc.noBind)
		}
		if o.BlendingStart != 0.9 {
			t.Errorf("%s: blending start %g, want the reference's 0.9", tc.m, o.BlendingStart)
		}
		if err := o.Check(); err != nil {
			t.Errorf("%s: %v", tc.m, err)
		}
	}
}
