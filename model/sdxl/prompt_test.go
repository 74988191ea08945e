package sdxl

import (
	"encoding/json"
	"math/rand"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"gorgonia.org/tensor"

	"github.com/latexblend/latexblend/model/clip"
	"github.com/latexblend/latexblend/model/diffusers"
	"github.com/latexblend/latexblend/model/safetensors"
)

// A handmade CLIP-format vocabulary (13 entries, ids unrelated to CLIP's) for a
// synthetic SDXL folder that needs no golden files.
const (
	miniVocab  = `{"a": 0, "b": 1, "c": 2, "a</w>": 3, "b</w>": 4, "c</w>": 5, "ab": 6, "ab</w>": 7, "abc</w>": 8, "<|startoftext|>": 9, "<|endoftext|>": 10, "!": 11, "!</w>": 12}`
	miniMerges = "#version: 0.2\na b\nab c</w>\na b</w>\n"
	miniLength = 6
)

// miniTextConfig is a 13-token, 8-wide (encoder 1) or 12-wide (encoder 2) CLIP text
// config with 6 positions.
func miniTextConfig(width int, projection bool) diffusers.CLIPTextConfig {
	c := diffusers.DefaultCLIPTextConfig()
	c.Architectures = []string{"CLIPTextModel"}
	c.HiddenAct = "quick_gelu"
	if projection {
		c.Architectures = []string{"CLIPTextModelWithProjection"}
		c.HiddenAct = "gelu"
	}
	c.VocabSize, c.HiddenSize, c.IntermediateSize, c.ProjectionDim = 13, width, 2*width, 5
	c.NumHiddenLayers, c.NumAttentionHeads, c.MaxPositionEmbeddings = 3, 2, miniLength
	return c
}

func writeFile(t *testing.T, path string, v any) {
	t.Helper()
	if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
		t.Fatal(err)
	}
	data, ok := v.(string)
	if !ok {
		b, err := json.Marshal(v)
		if err != nil {
			t.Fatal(err)
		}
		data = string(b)
	}
	if err := os.WriteFile(path, []byte(data), 0o644); err != nil {
		t.Fatal(err)
	}
}

// writeMiniEncoder writes a text-encoder folder with random weights.
func writeMiniEncoder(t *testing.T, dir string, cfg diffusers.CLIPTextConfig, seed int64) {
	t.Helper()
	writeFile(t, filepath.Join(dir, "config.json"), cfg)
	e, err := clip.NewTextEncoder(cfg)
	if err != nil {
		t.Fatal(err)
	}
	e.Model.Params().Randomize(rand.New(rand.NewSource(seed)), 0.4)
	var ts []safetensors.Tensor
	for _, key := range e.Model.ParamNames() {
		p := e.Model.Params().Get(key)
		ts = append(ts, safetensors.Tensor{Name: key, Shape: p.Shape(), F32: p.Value.Data().([]float32)})
	}
	if err := safetensors.WriteFile(filepath.Join(dir, "model.safetensors"), ts, nil); err != nil {
		t.Fatal(err)
	}
}

// writeMiniSDXL writes a complete, tiny SDXL text side: model_index.json (index holds
// the extra keys, e.g. force_zeros_for_empty_prompt), both tokenizers (tokenizer_2
// pads with "!") and both encoders.
func writeMiniSDXL(t *testing.T, index map[string]any) string {
	t.Helper()
	dir := t.TempDir()
	ix := map[string]any{
		"_class_name":       "StableDiffusionXLPipeline",
		TokenizerDir:        []string{"transformers", "CLIPTokenizer"},
		Tokenizer2Dir:       []string{"transformers", "CLIPTokenizer"},
		TextEncoderDir:      []string{"transformers", "CLIPTextModel"},
		TextEncoder2Dir:     []string{"transformers", "CLIPTextModelWithProjection"},
		"feature_extractor": []any{nil, nil},
	}
	for k, v := range index {
		ix[k] = v
	}
	writeFile(t, filepath.Join(dir, diffusers.IndexFile), ix)
	for _, tok := range []string{TokenizerDir, Tokenizer2Dir} {
		writeFile(t, filepath.Join(dir, tok, "vocab.json"), miniVocab)
		writeFile(t, filepath.Join(dir, tok, "merges.txt"), miniMerges)
		cfg := map[string]any{"model_max_length": miniLength}
		if tok == Tokenizer2Dir {
			cfg["pad_token"] = "!"
		}
		writeFile(t, filepath.Join(dir, tok, "tokenizer_config.json"), cfg)
	}
	writeMiniEncoder(t, filepath.Join(dir, TextEncoderDir), miniTextConfig(8, false), 1)
	writeMiniEncoder(t, filepath.Join(dir, TextEncoder2Dir), miniTextConfig(12, true), 2)
	return dir
}

func loadMini(t *testing.T, index map[string]any) *PromptEncoder {
	t.Helper()
	p, err := LoadPromptEncoder(writeMiniSDXL(t, index))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { p.Close() })
	return p
}

func rowsOf(x *tensor.Dense) [][]float32 {
	n := x.Shape().TotalSize() / x.Shape()[0]
	d := x.Data().([]float32)
	var rows [][]float32
	for i := 0; i < x.Shape()[0]; i++ {
		rows = append(rows, d[i*n:(i+1)*n])
	}
	return rows
}

func allZero(x *tensor.Dense) bool {
	for _, v := range x.Data().([]float32) {
		if v != 0 {
			return false
		}
	}
	return true
}

func TestEncodePromptShapesAndJoin(t *testing.T) {
	p := loadMini(t, nil)
	out, err := p.EncodePrompt(PromptRequest{Prompts: []string{"abc ab", "c"}})
	if err != nil {
		t.Fatal(err)
	}
	if s := out.PromptEmbeds.Shape(); !slices.Equal([]int(s), []int{2, miniLength, 8 + 12}) {
		t.Fatalf("prompt_embeds %v, want [2 6 20]", s)
	}
	if s := out.PooledPromptEmbeds.Shape(); !slices.Equal([]int(s), []int{2, 5}) {
		t.Fatalf("pooled %v, want [2 5]", s)
	}
	if out.NegativePromptEmbeds != nil {
		t.Error("negative embeddings without guidance")
	}
	if !slices.Equal(out.IDs[0], []int{9, 8, 7, 10, 10, 10}) || !slices.Equal(out.IDs2[0], []int{9, 8, 7, 10, 11, 11}) {
		t.Errorf("ids %v / %v: tokenizer 1 pads with EOS, tokenizer 2 with \"!\"", out.IDs[0], out.IDs2[0])
	}
	// The join is [encoder 1 penultimate | encoder 2 penultimate] per position.
	e1, err := p.TextEncoder.Encode(out.IDs)
	if err != nil {
		t.Fatal(err)
	}
	e2, err := p.TextEncoder2.Encode(out.IDs2)
	if err != nil {
		t.Fatal(err)
	}
	ctx := out.PromptEmbeds.Data().([]float32)
	p1, p2 := e1.Penultimate().Data().([]float32), e2.Penultimate().Data().([]float32)
	for r := 0; r < 2*miniLength; r++ {
		if !slices.Equal(ctx[r*20:r*20+8], p1[r*8:(r+1)*8]) || !slices.Equal(ctx[r*20+8:(r+1)*20], p2[r*12:(r+1)*12]) {
			t.Fatalf("position row %d is not [encoder 1 | encoder 2] penultimate states", r)
		}
	}
	if !slices.Equal(out.PooledPromptEmbeds.Data().([]float32), e2.TextEmbeds.Data().([]float32)) {
		t.Error("pooled embeddings are not encoder 2's text_embeds")
	}
}

func TestEncodePromptGuidance(t *testing.T) {
	encodeOne := func(p *PromptEncoder, s string) (ctx, pooled []float32) {
		t.Helper()
		out, err := p.EncodePrompt(PromptRequest{Prompts: []string{s}})
		if err != nil {
			t.Fatal(err)
		}
		return out.PromptEmbeds.Data().([]float32), out.PooledPromptEmbeds.Data().([]float32)
	}
	t.Run("force zeros", func(t *testing.T) {
		p := loadMini(t, map[string]any{"force_zeros_for_empty_prompt": true})
		out, err := p.EncodePrompt(PromptRequest{Prompts: []string{"ab", "c"}, Guidance: true, NumImagesPerPrompt: 2})
		if err != nil {
			t.Fatal(err)
		}
		if !allZero(out.NegativePromptEmbeds) || !allZero(out.NegativePooledPromptEmbeds) {
			t.Error("negative embeddings are not all zero")
		}
		if !slices.Equal([]int(out.NegativePromptEmbeds.Shape()), []int(out.PromptEmbeds.Shape())) {
			t.Errorf("negative %v vs positive %v", out.NegativePromptEmbeds.Shape(), out.PromptEmbeds.Shape())
		}
		// NumImagesPerPrompt 2: rows ab ab c c.
		rows := rowsOf(out.PromptEmbeds)
		abCtx, _ := encodeOne(p, "ab")
		cCtx, _ := encodeOne(p, "c")
		for i, want := range [][]float32{abCtx, abCtx, cCtx, cCtx} {
			if !slices.Equal(rows[i], want) {
				t.Errorf("row %d is not the expected repeat (ab ab c c)", i)
			}
		}
		ctx, pooled, err := out.GuidanceBatch()
		if err != nil {
			t.Fatal(err)
		}
		if ctx.Shape()[0] != 8 || pooled.Shape()[0] != 8 || !allZero(rowsTensor(ctx, 0, 4)) || allZero(rowsTensor(ctx, 4, 8)) {
			t.Error("guidance batch is not [negative rows, positive rows]")
		}
		// An explicit negative prompt, even empty, is encoded.
		out, err = p.EncodePrompt(PromptRequest{Prompts: []string{"ab"}, Guidance: true, NegativePrompts: []string{""}})
		if err != nil {
			t.Fatal(err)
		}
		emptyCtx, emptyPooled := encodeOne(p, "")
		if !slices.Equal(out.NegativePromptEmbeds.Data().([]float32), emptyCtx) || !slices.Equal(out.NegativePooledPromptEmbeds.Data().([]float32), emptyPooled) {
			t.Error("an explicit empty negative prompt was not encoded like the prompt \"\"")
		}
	})
	t.Run("no force zeros", func(t *testing.T) {
		p := loadMini(t, map[string]any{"force_zeros_for_empty_prompt": false})
		out, err := p.EncodePrompt(PromptRequest{Prompts: []string{"ab", "c"}, Guidance: true})
		if err != nil {
			t.Fatal(err)
		}
		emptyCtx, _ := encodeOne(p, "")
		for i, row := range rowsOf(out.NegativePromptEmbeds) {
			if !slices.Equal(row, emptyCtx) {
				t.Errorf("negative row %d is not the encoded empty prompt", i)
			}
		}
		out, err = p.EncodePrompt(PromptRequest{Prompts: []string{"ab", "c"}, Guidance: true, NegativePrompts: []string{"c", "ab"}})
		if err != nil {
			t.Fatal(err)
		}
		neg := rowsOf(out.NegativePromptEmbeds)
		pos := rowsOf(out.PromptEmbeds)
		if !slices.Equal(neg[0], pos[1]) || !slices.Equal(neg[1], pos[0]) {
			t.Error("per-prompt negatives are not encoded row by row")
		}
		if _, err := p.EncodePrompt(PromptRequest{Prompts: []string{"ab", "c"}, Guidance: true, NegativePrompts: []string{"a", "b", "c"}}); err == nil {
			t.Error("3 negative prompts for 2 prompts were accepted")
		}
	})
}

func rowsTensor(x *tensor.Dense, from, to int) *tensor.Dense {
	rows := rowsOf(x)
	var d []float32
	for _, r := range rows[from:to] {
		d = append(d, r...)
	}
	return tensor.New(tensor.WithShape(len(d)), tensor.WithBacking(d))
}

func TestForceZerosForEmptyPromptDefault(t *testing.T) {
	for _, tc := range []struct {
		index map[string]any
		want  bool
	}{
		{map[string]any{}, true}, // absent: StableDiffusionXLPipeline's default
		{map[string]any{"force_zeros_for_empty_prompt": false}, false},
		{map[string]any{"_class_name": "StableDiffusionXLImg2ImgPipeline"}, false},
		{map[string]any{"_class_name": "StableDiffusionXLImg2ImgPipeline", "force_zeros_for_empty_prompt": true}, true},
	} {
		p := loadMini(t, tc.index)
		if p.ForceZerosForEmptyPrompt != tc.want {
			t.Errorf("index %v: force zeros %v, want %v", tc.index, p.ForceZerosForEmptyPrompt, tc.want)
		}
	}
	dir := writeMiniSDXL(t, map[string]any{"force_zeros_for_empty_prompt": "yes"})
	if _, err := LoadPromptEncoder(dir); err == nil || !strings.Contains(err.Error(), "force_zeros_for_empty_prompt") {
		t.Errorf("a string flag: %v", err)
	}
}

func TestPromptEncoderAddTokens(t *testing.T) {
	p := loadMini(t, nil)
	if _, err := p.AddTokens([]string{"<x>"}, []string{"zz"}); err == nil || !strings.Contains(err.Error(), `"zz"`) {
		t.Errorf("unknown initializer: %v", err)
	}
	if _, err := p.AddTokens([]string{"ab"}, []string{"a"}); err == nil || !strings.Contains(err.Error(), "already token") {
		t.Errorf("a vocabulary token: %v", err)
	}
	if _, err := p.AddTokens([]string{"<x>", "<y>"}, []string{"a", "b", "c"}); err == nil {
		t.Error("3 initializers for 2 tokens were accepted")
	}
	if p.Tokenizer.Len() != 13 || p.TextEncoder.Model.NumTokens() != 13 {
		t.Fatal("a rejected AddTokens changed the tokenizer or the table")
	}
	ids, err := p.AddTokens([]string{"<x>", "<y>"}, []string{"ab", "c</w>"})
	if err != nil {
		t.Fatal(err)
	}
	if !slices.Equal(ids, []int{13, 14}) {
		t.Fatalf("ids %v, want [13 14]", ids)
	}
	for _, e := range []*clip.TextEncoder{p.TextEncoder, p.TextEncoder2} {
		x, _ := e.Model.TokenRow(13)
		ab, _ := e.Model.TokenRow(6)
		y, _ := e.Model.TokenRow(14)
		c, _ := e.Model.TokenRow(5)
		if !slices.Equal(x, ab) || !slices.Equal(y, c) {
			t.Error("added rows are not copies of their initializers")
		}
	}
	out, err := p.EncodePrompt(PromptRequest{Prompts: []string{"a <x> b"}})
	if err != nil {
		t.Fatal(err)
	}
	if !slices.Equal(out.IDs2[0], []int{9, 3, 13, 4, 10, 11}) {
		t.Errorf("ids %v", out.IDs2[0])
	}
	// With the new id above EOS the pooled vector is taken at <x> (position 2).
	e2, err := p.TextEncoder2.Encode(out.IDs2)
	if err != nil {
		t.Fatal(err)
	}
	if e2.PooledPositions[0] != 2 {
		t.Errorf("pooled at %d, want 2", e2.PooledPositions[0])
	}
}

func TestLoadPromptEncoderErrors(t *testing.T) {
	dir := writeMiniSDXL(t, nil)
	// Encoder 2 without its projection cannot give SDXL's pooled embedding.
	cfg := miniTextConfig(12, false)
	writeMiniEncoder(t, filepath.Join(dir, TextEncoder2Dir), cfg, 3)
	if _, err := LoadPromptEncoder(dir); err == nil || !strings.Contains(err.Error(), "WithProjection") {
		t.Errorf("encoder 2 without projection: %v", err)
	}
	// A weights file missing a tensor is reported by name.
	dir = writeMiniSDXL(t, nil)
	path := filepath.Join(dir, TextEncoderDir, "model.safetensors")
	f, err := safetensors.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	var ts []safetensors.Tensor
	for _, name := range f.Names() {
		if name == "text_model.final_layer_norm.weight" {
			continue
		}
		v, shape, err := f.Float32(name)
		if err != nil {
			t.Fatal(err)
		}
		ts = append(ts, safetensors.Tensor{Name: name, Shape: shape, F32: v})
	}
	f.Close()
	if err := safetensors.WriteFile(path, ts, nil); err != nil {
		t.Fatal(err)
	}
	if _, err := LoadPromptEncoder(dir); err == nil || !strings.Contains(err.Error(), "missing text_model.final_layer_norm.weight") {
		t.Errorf("missing tensor: %v", err)
	}
}
