package blend

import (
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/latexblend/latexblend/model/safetensors"
)

func testEntry() *Entry {
	return &Entry{
		ClassNoun: "dog", ModifierToken: "<new1>", NTok: 2, BaseModel: "abc123", Recipe: `{"steps":1500}`,
		Created: time.Date(2026, 11, 26, 1, 2, 3, 0, time.UTC),
		Layers: map[string]LayerKV{
			"down.attn2": {Channels: 3, K: []float32{1, 2, 3, 4, 5, 6}, V: []float32{-1, -2, -3, -4, -5, -6}},
			"up.attn2":   {Channels: 1, K: []float32{0.5, 0.25}, V: []float32{7, 8}},
		},
	}
}

// writeAndRead writes e to a temporary file and reads it back; it returns the path too.
func writeAndRead(t *testing.T, e *Entry) (string, *Entry) {
	t.Helper()
	p := filepath.Join(t.TempDir(), "dog.safetensors")
	if err := WriteEntry(p, e); err != nil {
		t.Fatal(err)
	}
	got, err := ReadEntry(p)
	if err != nil {
		t.Fatal(err)
	}
	return p, got
}

// checkLayers reports each layer of want that got lacks or holds differently.
func checkLayers(t *testing.T, what string, got, want map[string]LayerKV) {
	t.Helper()
	for m, l := range want {
		g := got[m]
		if g.Channels != l.Channels || !slices.Equal(g.K, l.K) || !slices.Equal(g.V, l.V) {
			t.Errorf("%s%s: %+v, want %+v", what, m, g, l)
		}
	}
}

func TestEntryRoundTrip(t *testing.T) {
	want := testEntry()
	p, got := writeAndRead(t, want)
	if got.ClassNoun != "dog" || got.ModifierToken != "<new1>" || got.NTok != 2 || got.BaseModel != "abc123" ||
		got.Recipe != want.Recipe || !got.Created.Equal(want.Created) {
		t.Errorf("metadata %+v", got)
	}
	checkLayers(t, "", got.Layers, want.Layers)
	f, err := safetensors.Open(p)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	if !slices.Equal(f.Names(), []string{"down.attn2.k", "down.attn2.v", "up.attn2.k", "up.attn2.v"}) {
		t.Errorf("tensor names %v", f.Names())
	}
	if f.Metadata()["format"] != EntryFormat {
		t.Errorf("format %q", f.Metadata()["format"])
	}
}

// TestEntryFloat16 checks that an F16 entry is widened to float32.
func TestEntryFloat16(t *testing.T) {
	p := filepath.Join(t.TempDir(), "h.safetensors")
	md := map[string]string{"format": EntryFormat, "class_noun": "cat", "n_tok": "2"}
	ts := []safetensors.Tensor{
		{Name: "m.attn2.k", Shape: []int{2, 2}, DType: safetensors.F16, F32: []float32{1, 0.5, -2, 0.125}},
		{Name: "m.attn2.v", Shape: []int{2, 2}, DType: safetensors.F16, F32: []float32{3, 4, 5, 6}},
	}
	if err := safetensors.WriteFile(p, ts, md); err != nil {
		t.Fatal(err)
	}
	e, err := ReadEntry(p)
	if err != nil {
		t.Fatal(err)
	}
	if l := e.Layers["m.attn2"]; !slices.Equal(l.K, []float32{1, 0.5, -2, 0.125}) || l.Channels != 2 {
		t.Errorf("widened %+v", l)
	}
}

// zeroTensor is an F32 tensor of zeros.
func zeroTensor(name string, shape ...int) safetensors.Tensor {
	n := 1
	for _, d := range shape {
		n *= d
	}
	return safetensors.Tensor{Name: name, Shape: shape, F32: make([]float32, n)}
}

// checkReadError writes a file of ts and md and checks that ReadEntry refuses it with
// an error naming the file and containing want.
func checkReadError(t *testing.T, md map[string]string, ts []safetensors.Tensor, want string) {
	t.Helper()
	p := filepath.Join(t.TempDir(), "e.safetensors")
	if err := safetensors.WriteFile(p, ts, md); err != nil {
		t.Fatal(err)
	}
	_, err := ReadEntry(p)
	if err == nil || !strings.Contains(err.Error(), want) || !strings.Contains(err.Error(), p) {
		t.Errorf("error %v, want one naming %s and containing %q", err, p, want)
	}
}

func TestEntryReadErrors(t *testing.T) {
	good := map[string]string{"format": EntryFormat, "class_noun": "cat", "n_tok": "2"}
	kv := zeroTensor
	with := func(k, v string) map[string]string {
		m := map[string]string{}
		for a, b := range good {
			m[a] = b
		}
		m[k] = v
		return m
	}
	for _, tc := range []struct {
		name string
		md   map[string]string
		ts   []safetensors.Tensor
		want string
	}{
		{"format", with("format", "pt"), []safetensors.Tensor{kv("m.k", 2, 3), kv("m.v", 2, 3)}, `format is "pt"`},
		{"noun", with("class_noun", ""), []safetensors.Tensor{kv("m.k", 2, 3), kv("m.v", 2, 3)}, "class_noun"},
		{"ntok", with("n_tok", "x"), []safetensors.Tensor{kv("m.k", 2, 3), kv("m.v", 2, 3)}, "n_tok"},
		{"name", good, []safetensors.Tensor{kv("m.q", 2, 3)}, `"m.q" is not named`},
		{"shape", good, []safetensors.Tensor{kv("m.k", 3, 3), kv("m.v", 3, 3)}, "want [2, C]"},
		{"half", good, []safetensors.Tensor{kv("m.k", 2, 3)}, "only one of .k and .v"},
		{"widths", good, []safetensors.Tensor{kv("m.k", 2, 3), kv("m.v", 2, 4)}, "different widths"},
		{"created", with("created", "yesterday"), []safetensors.Tensor{kv("m.k", 2, 3), kv("m.v", 2, 3)}, "RFC 3339"},
	} {
		t.Run(tc.name, func(t *testing.T) { checkReadError(t, tc.md, tc.ts, tc.want) })
	}
}

func TestEntryCheck(t *testing.T) {
	e := testEntry()
	fits := ModelSpec{Identity: "abc123", Channels: map[string]int{"down.attn2": 3, "up.attn2": 1}}
	if err := e.Check(fits); err != nil {
		t.Fatalf("matching model: %v", err)
	}
	for _, tc := range []struct {
		name string
		spec ModelSpec
		want string
	}{
		{"identity", ModelSpec{Identity: "other", Channels: fits.Channels}, "extracted on base model abc123"},
		{"missing", ModelSpec{Channels: map[string]int{"down.attn2": 3, "up.attn2": 1, "mid.attn2": 2}}, "1 model attn2 modules missing (first mid.attn2)"},
		{"extra", ModelSpec{Channels: map[string]int{"down.attn2": 3}}, "modules the model does not have (first up.attn2)"},
		{"width", ModelSpec{Channels: map[string]int{"down.attn2": 4, "up.attn2": 1}}, "down.attn2 has C=3, the model 4"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if err := e.Check(tc.spec); err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Errorf("error %v, want %q", err, tc.want)
			}
		})
	}
	noID := testEntry()
	noID.BaseModel = ""
	if err := noID.Check(ModelSpec{Identity: "other", Channels: fits.Channels}); err != nil {
		t.Errorf("an entry without identity (converted bank) is checked on layers only: %v", err)
	}
}
