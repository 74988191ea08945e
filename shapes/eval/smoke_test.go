package eval

import (
	"bytes"
	"context"
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/latexblend/latexblend/internal/golden"
)

// TestSmokeGolden runs the whole evaluation plumbing on the tiny golden model: retrain
// two concepts for one step, then every method on one two-concept prompt, one seed,
// two steps, and checks the report's key=value line and the grids.
func TestSmokeGolden(t *testing.T) {
	model := filepath.Join(golden.Dir(t), "tiny-sdxl")
	ctx := context.Background()
	entries := t.TempDir()
	pr := Prompts()[4] // checker-star + rainbow-ring
	tc := DefaultTrainConfig()
	tc.Steps, tc.Batch, tc.RegImages = 1, 1, 2
	tc.Created = time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC)
	t0 := time.Now()
	if err := Retrain(ctx, model, entries, pr.Concepts, tc); err != nil {
		t.Fatal(err)
	}
	bank, err := LoadBank(entries, pr.Concepts)
	if err != nil {
		t.Fatal(err)
	}
	if e := bank.Entries["rainbow-ring"]; e.ModifierToken != "<new2>" || e.ClassNoun != "ring" {
		t.Errorf("rainbow-ring entry is %s %q", e.ModifierToken, e.ClassNoun)
	}
	out := t.TempDir()
	t.Logf("retrain %v", time.Since(t0))
	t0 = time.Now()
	rep, err := Run(ctx, Config{ModelDir: model, EntriesDir: entries, Prompts: []Prompt{pr}, Seeds: 1, Steps: 2, Out: out, NoCeiling: true})
	if err != nil {
		t.Fatal(err)
	}
	t.Logf("run %v; per method %v", time.Since(t0), rep.Methods[0].Seconds)
	var buf bytes.Buffer
	if err := rep.Write(&buf); err != nil {
		t.Fatal(err)
	}
	lines := strings.Split(strings.TrimSpace(buf.String()), "\n")
	kv := parseLine(t, lines[len(lines)-1])
	want := []string{"steps", "seeds", "binding", "images", "elapsed_s", "judge_recall", "vae_recall", "target_fidelity_2", "target_fidelity_3", "target_bleeding", "target_margin"}
	for _, n := range ReportCounts {
		for _, k := range []string{"fidelity", "all", "prompt", "bleeding"} {
			want = append(want, fmt.Sprintf("ceiling_%s_%d", k, n))
		}
	}
	for _, m := range Methods() {
		want = append(want, string(m)+"_sec_per_image")
		for _, n := range ReportCounts {
			for _, k := range []string{"fidelity", "all", "prompt", "bleeding"} {
				want = append(want, fmt.Sprintf("%s_%s_%d", m, k, n))
			}
		}
	}
	for _, k := range want {
		if _, ok := kv[k]; !ok {
			t.Errorf("the last line lacks %s: %s", k, lines[len(lines)-1])
		}
	}
	if len(kv) != len(want) {
		t.Errorf("the last line has %d keys, want %d", len(kv), len(want))
	}
	if kv["ceiling_fidelity_2"] != "nan" {
		t.Errorf("ceiling_fidelity_2=%s with NoCeiling, want nan", kv["ceiling_fidelity_2"])
	}
	if kv["binding"] != "false" {
		t.Errorf("binding=%s, want the default false", kv["binding"])
	}
	images := strconv.Itoa(len(Methods())) // one image per method
	if kv["images"] != images || kv["replace_fidelity_3"] != "nan" || kv["replace_fidelity_2"] == "nan" {
		t.Errorf("images=%s replace_fidelity_3=%s replace_fidelity_2=%s, want %s, nan and a number",
			kv["images"], kv["replace_fidelity_3"], kv["replace_fidelity_2"], images)
	}
	for _, m := range Methods() {
		if _, err := os.Stat(filepath.Join(out, string(m)+".png")); err != nil {
			t.Errorf("grid of %s: %v", m, err)
		}
	}
	res, err := os.ReadFile(filepath.Join(out, ResultsFile))
	if err != nil {
		t.Fatal(err)
	}
	if n := strings.Count(string(res), "\n"); n != len(Methods()) {
		t.Errorf("%s has %d lines, want %d (one per image)", ResultsFile, n, len(Methods()))
	}
	if !strings.Contains(string(res), `"text":"a \u003cnew1\u003e star and a \u003cnew2\u003e ring"`) {
		t.Errorf("%s lacks the merged baseline's modifier prompt:\n%s", ResultsFile, res)
	}
	if !strings.Contains(string(res), `"method":"words","prompt":"checker-star+rainbow-ring","text":"a checkered star and a rainbow ring"`) {
		t.Errorf("%s lacks the words method's textured prompt:\n%s", ResultsFile, res)
	}

	// The places extension runs on the same deltas; the ring (place 2) gets rows
	// extracted after a plain object, so its image is not replace's.
	places := t.TempDir()
	rep, err = Run(ctx, Config{ModelDir: model, EntriesDir: entries, Prompts: []Prompt{pr}, Seeds: 1, Steps: 2, Out: places,
		NoCeiling: true, Methods: []Method{Replace, Places}})
	if err != nil {
		t.Fatal(err)
	}
	if mr := rep.Method(Places); mr == nil || mr.Images != 1 {
		t.Fatalf("places: %+v, want one image", mr)
	}
	buf.Reset()
	if err := rep.Write(&buf); err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(buf.String(), "places_fidelity_2=") {
		t.Errorf("the report lacks places_fidelity_2: %s", buf.String())
	}
	if gridsEqual(t, places, "replace", "places") {
		t.Error("places.png equals replace.png: the place-2 rows made no difference")
	}
}

// gridsEqual reports whether the grids of methods a and b in dir are the same bytes.
func gridsEqual(t *testing.T, dir, a, b string) bool {
	t.Helper()
	var grids [2][]byte
	for i, m := range []string{a, b} {
		g, err := os.ReadFile(filepath.Join(dir, m+".png"))
		if err != nil {
			t.Fatal(err)
		}
		grids[i] = g
	}
	return bytes.Equal(grids[0], grids[1])
}

// TestReferencesNeedNoEntries: base, words, oracle and the context and ordinal
// diagnostics run on a model without any eval entries (the tiny golden model, an empty entries folder), and
// context's images are not oracle's; adding a method that needs entries asks for
// --retrain.
func TestReferencesNeedNoEntries(t *testing.T) {
	model := filepath.Join(golden.Dir(t), "tiny-sdxl")
	empty := t.TempDir()
	out := t.TempDir()
	pr := Prompts()[4] // checker-star + rainbow-ring
	cfg := Config{ModelDir: model, EntriesDir: empty, Prompts: []Prompt{pr}, Seeds: 1, Steps: 1, NoCeiling: true,
		Methods: []Method{Base, Words, Oracle, Context, Ordinal}, Out: out}
	rep, err := Run(context.Background(), cfg)
	if err != nil {
		t.Fatal(err)
	}
	if len(rep.Methods) != 5 {
		t.Errorf("report has %d methods, want base, words, oracle, context and ordinal", len(rep.Methods))
	}
	for _, m := range []Method{Oracle, Context, Ordinal} {
		if mr := rep.Method(m); mr == nil || mr.Images != 1 {
			t.Errorf("%s: %+v, want one image", m, mr)
		}
	}
	if gridsEqual(t, out, "oracle", "context") {
		t.Errorf("context.png equals oracle.png: the entries taken in context made no difference")
	}
	cfg.Methods = []Method{Base, Replace}
	if _, err := Run(context.Background(), cfg); err == nil || !strings.Contains(err.Error(), "--retrain") {
		t.Errorf("replace without entries: %v, want an error asking for --retrain", err)
	}
}
