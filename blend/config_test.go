package blend

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// referenceSelfRect is the reference's inference_dict/inference_selfrectification.json.
const referenceSelfRect = `[
    {
        "prompt": "a dog playing a guitar, in front of a castle.",
        "modifier_tokens": "<new1>+<new2>",
        "batch_size": 4,
        "num_inference_steps": 100,
        "blending_start": 0.9,
        "concept_num": 3,
        "get_concept_bank": false,
        "blending_guidance": false,
        "self_rectification": true,
        "rectification_start": 0.85,
        "concept1": {"concept_bank": "concept_bank/n_2_dog_1500.pt", "class_noun": "dog"},
        "concept2": {"concept_bank": "concept_bank/n_2_guitar_1500.pt", "class_noun": "guitar"},
        "concept3": {"concept_bank": "concept_bank/n_2_castle_1500.pt", "class_noun": "castle"}
    }
]`

func TestParseInferenceConfig(t *testing.T) {
	c, err := ParseInferenceConfig([]byte(referenceSelfRect))
	if err != nil {
		t.Fatal(err)
	}
	if c.Prompt != "a dog playing a guitar, in front of a castle." || c.BatchSize != 4 || c.NumInferenceSteps != 100 {
		t.Errorf("config %+v", c)
	}
	o := c.Options
	if !o.Rectification || o.Guidance || o.RectificationStart != 0.85 || o.BlendingStart != 0.9 || o.CReg != 2 {
		t.Errorf("options %+v", o)
	}
	if len(c.Concepts) != 3 || c.Concepts[1].ClassNoun != "guitar" || c.Concepts[2].Bank != "concept_bank/n_2_castle_1500.pt" {
		t.Errorf("concepts %+v", c.Concepts)
	}
	if o.saveStep(100) != 15 {
		t.Errorf("save step %d, want 15", o.saveStep(100))
	}
	o.RectificationStart = 0.8
	if o.saveStep(100) != 19 {
		t.Errorf("rectification_start 0.8 with 100 steps saves at %d, the reference at 19", o.saveStep(100))
	}
	// A bare object with guidance and no concept_num: concepts are counted.
	c, err = ParseInferenceConfig([]byte(`{"prompt": "a dog", "blending_guidance": true, "guidance_steps": 3, "guidance_stepsize": 0.5,
		"concept1": {"concept_bank": "d.safetensors", "class_noun": "dog"}}`))
	if err != nil {
		t.Fatal(err)
	}
	if !c.Options.Guidance || c.Options.GuidanceSteps != 3 || c.Options.GuidanceStepsize != 0.5 || len(c.Concepts) != 1 || !c.Set["guidance_steps"] || c.Set["blending_start"] {
		t.Errorf("config %+v", c)
	}
	for _, tc := range []struct{ json, want string }{
		{`[]`, "empty"},
		{`{"prompt": ""}`, `"prompt"`},
		{`{"prompt": "a dog", "get_concept_bank": true}`, "extraction config"},
		{`{"prompt": "a dog", "concept_num": 2, "concept1": {"concept_bank": "a", "class_noun": "dog"}}`, `"concept2" is missing`},
		{`{"prompt": "a dog", "concept1": {"class_noun": "dog"}}`, "needs concept_bank"},
		{`{"prompt": "a dog", "blending_start": "high"}`, `"blending_start"`},
		{`{"prompt": "a dog", "blending_start": 1.5}`, "outside [0, 1]"},
		{`nope`, "not a JSON object"},
	} {
		if _, err := ParseInferenceConfig([]byte(tc.json)); err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("%s: error %v, want %q", tc.json, err, tc.want)
		}
	}
}

// TestReadInferenceConfigPaths: relative bank paths are found next to the config file.
func TestReadInferenceConfigPaths(t *testing.T) {
	dir := t.TempDir()
	os.WriteFile(filepath.Join(dir, "dog.safetensors"), []byte("x"), 0o644)
	p := filepath.Join(dir, "cfg.json")
	os.WriteFile(p, []byte(`[{"prompt": "a dog", "concept1": {"concept_bank": "dog.safetensors", "class_noun": "dog"}}]`), 0o644)
	c, err := ReadInferenceConfig(p)
	if err != nil {
		t.Fatal(err)
	}
	if c.Concepts[0].Bank != filepath.Join(dir, "dog.safetensors") {
		t.Errorf("bank path %q", c.Concepts[0].Bank)
	}
	if _, err := ReadInferenceConfig(filepath.Join(dir, "missing.json")); err == nil {
		t.Error("a missing config must fail")
	}
}

func TestOptionsRules(t *testing.T) {
	o := DefaultOptions()
	if got := o.guidanceRows(4); len(got) != 4 || got[0] != 0 {
		t.Errorf("fixed guidance rows %v, want all 4", got)
	}
	o.ReferenceCompat = true
	if got := o.guidanceRows(4); len(got) != 2 || got[0] != 2 || got[1] != 3 {
		t.Errorf("reference guidance rows %v, want [2 3]", got)
	}
	if got := o.guidanceRows(1); len(got) != 1 || got[0] != 0 {
		t.Errorf("reference guidance rows of one image %v, want [0]", got)
	}
	// blending_start 0.9: t=901 unblended, t=900 unblended (float32 0.9 == 0.9), 891 blended.
	for _, tc := range []struct {
		t    float64
		want bool
	}{{901, false}, {900, false}, {899.9, true}, {891, true}, {1, true}} {
		if got := o.blending(tc.t); got != tc.want {
			t.Errorf("blending at t=%g: %v, want %v", tc.t, got, tc.want)
		}
	}
	if md := o.Metadata(); md["objective"] != "reference-compat" || md["blend_mode"] != "replace" || md["binding"] != "true" {
		t.Errorf("metadata %v", md)
	}
	if err := (Options{BlendingStart: 2}).Check(); err == nil {
		t.Error("blending_start 2 must be refused")
	}
}
