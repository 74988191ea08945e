package eval

import (
	"fmt"
	"io"
	"math"
	"strings"
)

// ReportCounts are the concept counts every report line has keys for (NaN when no
// prompt of that count ran).
var ReportCounts = []int{1, 2, 3}

// Targets of the evaluation (issue 10): LatexBlend replacement's concept fidelity with
// two and three concepts, its bleeding, and its margin over the merged-weights baseline.
const (
	TargetFidelity2 = 0.9
	TargetFidelity3 = 0.75
	TargetBleeding  = 0.05
	TargetMargin    = 0.2
)

// scoreColumns are the table's metric columns, in order.
var scoreColumns = []func(Score) float64{
	func(s Score) float64 { return s.Fidelity }, func(s Score) float64 { return s.AllFound },
	func(s Score) float64 { return s.PromptFidelity }, func(s Score) float64 { return s.Bleeding },
}

// missing is the score of something not measured.
var missing = Score{Fidelity: nan, AllFound: nan, PromptFidelity: nan, Bleeding: nan}

// sceneCeiling returns the scene ceiling's score for n concepts (NaN fields when absent).
func (r *Report) sceneCeiling(n int) Score {
	if s, ok := r.SceneCeiling.Scores[n]; ok {
		return s
	}
	return missing
}

// score returns method m's score for n concepts (NaN fields when absent).
func (r *Report) score(m Method, n int) Score {
	if mr := r.Method(m); mr != nil {
		if s, ok := mr.Scores[n]; ok {
			return s
		}
	}
	return missing
}

// Targets evaluates the targets on the replace and merged results: fidelity with 2 and
// 3 concepts, bleeding with 2 and 3 concepts at most TargetBleeding, and replace's
// fidelity at least TargetMargin above merged's with 2 and 3 concepts. A target whose
// numbers are missing (NaN) is not met.
func (r *Report) Targets() (fid2, fid3, bleeding, margin bool) {
	rep2, rep3 := r.score(Replace, 2), r.score(Replace, 3)
	mer2, mer3 := r.score(Merged, 2), r.score(Merged, 3)
	fid2 = rep2.Fidelity >= TargetFidelity2
	fid3 = rep3.Fidelity >= TargetFidelity3
	bleeding = rep2.Bleeding <= TargetBleeding && rep3.Bleeding <= TargetBleeding
	margin = rep2.Fidelity-mer2.Fidelity >= TargetMargin && rep3.Fidelity-mer3.Fidelity >= TargetMargin
	return
}

// Write prints the table (one row per method) and ends with the key=value line.
func (r *Report) Write(w io.Writer) error {
	var sb strings.Builder
	bind := "off"
	if r.Binding {
		bind = "on"
	}
	fmt.Fprintf(&sb, "\nLatexBlend shapes eval: %d steps, %d seeds per prompt, bind trick %s; concept counts 1/2/3\n", r.Steps, r.Seeds, bind)
	fmt.Fprintf(&sb, "%-9s %7s  %-17s  %-17s  %-17s  %-17s\n", "method", "s/img", "concept fidelity", "all concepts", "prompt fidelity", "bleeding")
	for _, mr := range r.Methods {
		fmt.Fprintf(&sb, "%-9s %7.2f", mr.Method, mr.SecondsPerImage())
		for _, f := range scoreColumns {
			var cells []string
			for _, n := range ReportCounts {
				cells = append(cells, cell(f(r.score(mr.Method, n))))
			}
			fmt.Fprintf(&sb, "  %-17s", strings.Join(cells, " "))
		}
		sb.WriteString("\n")
	}
	fmt.Fprintf(&sb, "%-9s %7s", "ceiling", "-")
	for _, f := range scoreColumns {
		var cells []string
		for _, n := range ReportCounts {
			cells = append(cells, cell(f(r.sceneCeiling(n))))
		}
		fmt.Fprintf(&sb, "  %-17s", strings.Join(cells, " "))
	}
	sb.WriteString("\n")
	sb.WriteString("ceiling: the prompts' own scenes rendered and passed through the VAE, as the judge scores them; no method can do better\n")
	fmt.Fprintf(&sb, "ceiling on the concepts' %d training images: judge recall %.2f, after the VAE %.2f\n",
		r.Ceiling.Images, r.Ceiling.JudgeRecall, r.Ceiling.VAERecall)
	fid2, fid3, bleed, margin := r.Targets()
	fmt.Fprintf(&sb, "targets: replace fidelity_2 >= %.2f: %s; fidelity_3 >= %.2f: %s; bleeding <= %.2f: %s; %.2f above merged: %s\n",
		TargetFidelity2, met(fid2), TargetFidelity3, met(fid3), TargetBleeding, met(bleed), TargetMargin, met(margin))
	for _, mr := range r.Methods {
		if p, ok := r.Grids[mr.Method]; ok {
			fmt.Fprintf(&sb, "grid %s: %s\n", mr.Method, p)
		}
	}
	sb.WriteString(r.Line())
	sb.WriteString("\n")
	_, err := io.WriteString(w, sb.String())
	return err
}

// Line is the report's key=value line: steps, seeds, binding, images, elapsed_s, judge_recall
// and vae_recall (the Ceiling), ceiling_fidelity_n, ceiling_all_n, ceiling_prompt_n and
// ceiling_bleeding_n (the SceneCeiling), then for every
// method m and concept count n m_fidelity_n, m_all_n, m_prompt_n, m_bleeding_n, and
// m_sec_per_image, then the targets.
func (r *Report) Line() string {
	images := 0
	for _, mr := range r.Methods {
		images += mr.Images
	}
	kv := []string{
		fmt.Sprintf("steps=%d", r.Steps), fmt.Sprintf("seeds=%d", r.Seeds), fmt.Sprintf("binding=%t", r.Binding), fmt.Sprintf("images=%d", images),
		fmt.Sprintf("elapsed_s=%.1f", r.Elapsed.Seconds()),
		"judge_recall=" + num(r.Ceiling.JudgeRecall), "vae_recall=" + num(r.Ceiling.VAERecall),
	}
	scoreKeys := func(prefix string, n int, s Score) []string {
		return []string{
			fmt.Sprintf("%s_fidelity_%d=%s", prefix, n, num(s.Fidelity)),
			fmt.Sprintf("%s_all_%d=%s", prefix, n, num(s.AllFound)),
			fmt.Sprintf("%s_prompt_%d=%s", prefix, n, num(s.PromptFidelity)),
			fmt.Sprintf("%s_bleeding_%d=%s", prefix, n, num(s.Bleeding)),
		}
	}
	for _, n := range ReportCounts {
		kv = append(kv, scoreKeys("ceiling", n, r.sceneCeiling(n))...)
	}
	for _, mr := range r.Methods {
		m := mr.Method
		for _, n := range ReportCounts {
			kv = append(kv, scoreKeys(string(m), n, r.score(m, n))...)
		}
		kv = append(kv, fmt.Sprintf("%s_sec_per_image=%.3f", m, mr.SecondsPerImage()))
	}
	fid2, fid3, bleed, margin := r.Targets()
	kv = append(kv, fmt.Sprintf("target_fidelity_2=%v", fid2), fmt.Sprintf("target_fidelity_3=%v", fid3),
		fmt.Sprintf("target_bleeding=%v", bleed), fmt.Sprintf("target_margin=%v", margin))
	return strings.Join(kv, " ")
}

func num(x float64) string {
	if math.IsNaN(x) {
		return "nan"
	}
	return fmt.Sprintf("%.4f", x)
}

func cell(x float64) string {
	if math.IsNaN(x) {
		return "  -  "
	}
	return fmt.Sprintf("%.2f ", x)
}

func met(b bool) string {
	if b {
		return "met"
	}
	return "missed"
}
