package trainer

import (
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/latexblend/latexblend/model/safetensors"
)

func entryFileBytes(t *testing.T, tensors []safetensors.Tensor, md map[string]string) []byte {
	t.Helper()
	path := filepath.Join(t.TempDir(), "e.safetensors")
	if err := safetensors.WriteFile(path, tensors, md); err != nil {
		t.Fatal(err)
	}
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

func TestParseEntry(t *testing.T) {
	md := func(change map[string]string) map[string]string {
		m := map[string]string{EntryKeyFormat: EntryFormat, EntryKeyClassNoun: "teddy bear", EntryKeyModifier: "<new1>",
			EntryKeyNTok: "3", EntryKeyBaseModelID: "abc", EntryKeyRecipe: `{"lr":1e-5}`}
		for k, v := range change {
			if v == "-" {
				delete(m, k)
			} else {
				m[k] = v
			}
		}
		return m
	}
	kv := func(layer string, rows, c int) []safetensors.Tensor {
		d := make([]float32, rows*c)
		return []safetensors.Tensor{{Name: layer + ".k", Shape: []int{rows, c}, F32: d}, {Name: layer + ".v", Shape: []int{rows, c}, F32: d}}
	}
	good := append(kv("down_blocks.1.attentions.0.transformer_blocks.0.attn2", 3, 8), kv("mid_block.attentions.0.transformer_blocks.0.attn2", 3, 16)...)
	info, err := ParseEntry(entryFileBytes(t, good, md(nil)))
	if err != nil {
		t.Fatal(err)
	}
	if info.ClassNoun != "teddy bear" || info.ModifierToken != "<new1>" || info.NTok != 3 || info.BaseModelID != "abc" ||
		info.Layers != 2 || info.Recipe != `{"lr":1e-5}` {
		t.Errorf("ParseEntry = %+v", info)
	}

	cases := []struct {
		name    string
		tensors []safetensors.Tensor
		md      map[string]string
		want    string
	}{
		{"delta format", good, md(map[string]string{EntryKeyFormat: "latexblend.delta/v1"}), `"format" is "latexblend.delta/v1"`},
		{"no class noun", good, md(map[string]string{EntryKeyClassNoun: "-"}), `lacks "class_noun"`},
		{"no base model", good, md(map[string]string{EntryKeyBaseModelID: "-"}), `lacks "base_model_id"`},
		{"bad n_tok", good, md(map[string]string{EntryKeyNTok: "many"}), `"n_tok" = "many"`},
		{"rows differ from n_tok", good, md(map[string]string{EntryKeyNTok: "2"}), "want [2, C]"},
		{"missing partner", good[:3], md(nil), "has no partner"},
		{"bad name", []safetensors.Tensor{{Name: "x.weight", Shape: []int{3, 4}, F32: make([]float32, 12)}}, md(nil), "not named <layer>.k"},
		{"half precision", []safetensors.Tensor{{Name: "a.k", Shape: []int{3, 4}, DType: safetensors.F16, F32: make([]float32, 12)},
			{Name: "a.v", Shape: []int{3, 4}, F32: make([]float32, 12)}}, md(nil), "is F16, want F32"},
		{"widths differ", append(kv("a", 3, 4)[:1], kv("a", 3, 5)[1]), md(nil), "differ in width"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			_, err := ParseEntry(entryFileBytes(t, tc.tensors, tc.md))
			if err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("error = %v, want one containing %q", err, tc.want)
			}
		})
	}
	if _, err := ParseEntry([]byte("short")); err == nil {
		t.Error("ParseEntry accepted 5 bytes")
	}
}

func TestKeys(t *testing.T) {
	id := "01M8AS0PCFE9KEB34RJT6NJ6NP"
	for key, want := range map[string]string{
		JobKey(id):               id,
		AssignmentKey(id):        "",
		ProgressKey(id):          "",
		JobsPrefix:               "",
		ClaimKey(id):             "",
		"/latexblend/jobs/x/y/z": "",
	} {
		if got := JobIDFromKey(key); got != want {
			t.Errorf("JobIDFromKey(%q) = %q, want %q", key, got, want)
		}
	}
	a := Assignment{Trainers: []string{"a", "b", "c"}}
	if a.Rank("c") != 2 || a.Rank("d") != -1 {
		t.Errorf("Rank: c=%d d=%d", a.Rank("c"), a.Rank("d"))
	}
	if Digest([]byte("abc")) != "sha256:ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad" {
		t.Errorf("Digest(abc) = %s", Digest([]byte("abc")))
	}
}
