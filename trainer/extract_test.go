package trainer

import (
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/latexblend/latexblend/blend"
	"github.com/latexblend/latexblend/internal/goldentest"
	"github.com/latexblend/latexblend/model/clip"
)

// goldenDelta is the stand-in fine-tuned delta of a latexblend_bank case.
func goldenDelta(t *testing.T, name, noun string) *Delta {
	f := goldentest.Case(t, name)
	d := &Delta{ModifierToken: "<new1>", ClassNoun: noun, Weights: map[string][]float32{}, Shapes: map[string][]int{}}
	for _, n := range f.Names() {
		if p, ok := strings.CutPrefix(n, "delta.unet."); ok {
			d.Weights[p] = goldenF32(t, f, n)
			info, _ := f.Info(n)
			d.Shapes[p] = info.Shape
		}
	}
	d.Rows = [2][]float32{goldenF32(t, f, "delta.new1_embed_1"), goldenF32(t, f, "delta.new1_embed_2")}
	return d
}

func TestGoldenExtract(t *testing.T) {
	for _, tc := range []struct{ name, noun string }{{"latexblend_bank1", "dog"}, {"latexblend_bank2", "sunglasses"}} {
		t.Run(tc.name, func(t *testing.T) {
			f := goldentest.Case(t, tc.name)
			base, err := LoadBase(tinyModelDir(t), false)
			if err != nil {
				t.Fatal(err)
			}
			defer base.Close()
			start, end, err := slotPositions(base.Prompt.Tokenizer, "photo of <new1> "+tc.noun, "<new1>", tc.noun)
			if err != nil || start != 3 || end != 5 {
				t.Fatalf("slot [%d, %d) (%v), reference [3, 5)", start, end, err)
			}
			e, err := Extract(base, goldenDelta(t, tc.name, tc.noun), ExtractOptions{})
			if err != nil {
				t.Fatal(err)
			}
			if e.NTok != 2 || len(e.Layers) != 12 {
				t.Fatalf("n_tok %d, %d layers", e.NTok, len(e.Layers))
			}
			for mod, l := range e.Layers {
				goldentest.CheckClose(t, mod+".k", l.K, goldenF32(t, f, mod+".processor.k"), 1e-4)
				goldentest.CheckClose(t, mod+".v", l.V, goldenF32(t, f, mod+".processor.v"), 1e-4)
			}
			// The file is accepted by the coordinator's and the sampler's readers.
			path := filepath.Join(t.TempDir(), "entry.safetensors")
			if err := blend.WriteEntry(path, e); err != nil {
				t.Fatal(err)
			}
			b, _ := os.ReadFile(path)
			info, err := ParseEntry(b)
			if err != nil {
				t.Fatal(err)
			}
			if info.ClassNoun != tc.noun || info.NTok != 2 || info.BaseModelID != base.Identity || info.Layers != 12 {
				t.Errorf("ParseEntry: %+v", info)
			}
			back, err := blend.ReadEntry(path)
			if err != nil {
				t.Fatal(err)
			}
			if back.BaseModel != base.Identity || back.Created.IsZero() || time.Since(back.Created) > time.Hour {
				t.Errorf("blend.ReadEntry: base %q created %v", back.BaseModel, back.Created)
			}
		})
	}
}

func TestExtractErrors(t *testing.T) {
	base := tinyBase(t)
	d := goldenDelta(t, "latexblend_bank1", "dog")
	for _, tc := range []struct {
		opts ExtractOptions
		want string
	}{
		{ExtractOptions{Prompt: "photo of a cat"}, `class noun "dog"`},
		{ExtractOptions{Prompt: "dog <new1> photo"}, "class noun"},
		{ExtractOptions{Token: "<new2>"}, "delta trains"},
	} {
		if _, err := Extract(base, d, tc.opts); err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("%+v: error %v, want %q", tc.opts, err, tc.want)
		}
	}
	bad := goldenDelta(t, "latexblend_bank1", "dog")
	bad.Weights["mid_block.attentions.0.transformer_blocks.0.attn2.to_q.weight"] = make([]float32, 64*64)
	if _, err := Extract(base, bad, ExtractOptions{}); err == nil || !strings.Contains(err.Error(), "to_q") {
		t.Errorf("delta with a to_q weight: %v", err)
	}
}

func TestDeltaRoundTripAndRequiredKeys(t *testing.T) {
	d := goldenDelta(t, "latexblend_bank1", "dog")
	d.Recipe, d.Step = DefaultRecipe("dog").JSON(), 7
	path := filepath.Join(t.TempDir(), "d.safetensors")
	if err := WriteDelta(path, d); err != nil {
		t.Fatal(err)
	}
	back, err := ReadDelta(path)
	if err != nil {
		t.Fatal(err)
	}
	if back.Step != 7 || back.ClassNoun != "dog" || len(back.Weights) != 24 || len(back.Rows[1]) != 32 {
		t.Errorf("round trip: step %d noun %q %d weights", back.Step, back.ClassNoun, len(back.Weights))
	}
	// Only format, modifier_token and class_noun are required.
	minimal := &Delta{ModifierToken: "<new1>", ClassNoun: "dog", Weights: d.Weights, Shapes: d.Shapes, Rows: d.Rows}
	b, err := EncodeDelta(minimal)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := DecodeDelta(b); err != nil {
		t.Errorf("minimal delta refused: %v", err)
	}
	noNoun := &Delta{ModifierToken: "<new1>", Weights: d.Weights, Shapes: d.Shapes, Rows: d.Rows}
	b, _ = EncodeDelta(noNoun)
	if _, err := DecodeDelta(b); err == nil || !strings.Contains(err.Error(), "class_noun") {
		t.Errorf("delta without class_noun: %v", err)
	}
}

// TestWordsEntry: the words entry of "red dog" is what Extract gives for a delta that
// trains nothing but a token whose rows are "red"'s own; a two-token word keeps a
// 2-row slot; an empty word or noun is refused.
func TestWordsEntry(t *testing.T) {
	base := tinyBase(t)
	created := time.Date(2026, 11, 26, 0, 0, 0, 0, time.UTC)
	got, err := WordsEntry(base, "red", "dog", created)
	if err != nil {
		t.Fatal(err)
	}
	if got.NTok != 2 || got.ClassNoun != "dog" || got.ModifierToken != "red" || got.BaseModel != base.Identity ||
		!got.Created.Equal(created) || len(got.Layers) != len(base.UNet.CrossAttentionModules()) {
		t.Fatalf("entry: n_tok %d class %q token %q base %q created %v, %d layers", got.NTok, got.ClassNoun,
			got.ModifierToken, got.BaseModel, got.Created, len(got.Layers))
	}
	d := &Delta{ModifierToken: "<new1>", ClassNoun: "dog", BaseModelID: base.Identity}
	for i, tok := range []*clip.Tokenizer{base.Prompt.Tokenizer, base.Prompt.Tokenizer2} {
		ids := tok.Encode("red")
		if len(ids) != 1 {
			t.Fatalf("tokenizer %d: \"red\" is %d tokens", i+1, len(ids))
		}
		enc := []*clip.TextEncoder{base.Prompt.TextEncoder, base.Prompt.TextEncoder2}[i]
		if d.Rows[i], err = enc.Model.TokenRow(ids[0]); err != nil {
			t.Fatal(err)
		}
	}
	want, err := Extract(base, d, ExtractOptions{Created: created})
	if err != nil {
		t.Fatal(err)
	}
	for mod, l := range want.Layers {
		goldentest.CheckClose(t, mod+".k", got.Layers[mod].K, l.K, 1e-6)
		goldentest.CheckClose(t, mod+".v", got.Layers[mod].V, l.V, 1e-6)
	}
	other, err := WordsEntry(base, "blue", "dog", created)
	if err != nil {
		t.Fatal(err)
	}
	for mod, l := range other.Layers {
		if slices.Equal(l.K, got.Layers[mod].K) {
			t.Errorf("%s: the K of \"blue dog\" equals that of \"red dog\"", mod)
		}
	}
	// A word of two tokens keeps only its last token's rows: a 2-row slot, as with a
	// one-token word.
	if n := len(base.Prompt.Tokenizer.Encode("checkered")); n != 2 {
		t.Fatalf("\"checkered\" is %d tokens in the tiny model's CLIP vocabulary, the test wants 2", n)
	}
	two, err := WordsEntry(base, "checkered", "dog", created)
	if err != nil {
		t.Fatal(err)
	}
	if two.NTok != 2 || slices.Equal(two.Layers[base.UNet.CrossAttentionModules()[0]].K, got.Layers[base.UNet.CrossAttentionModules()[0]].K) {
		t.Errorf("\"checkered dog\": n_tok %d (want 2), or the same K as \"red dog\"", two.NTok)
	}
	for _, tc := range []struct{ word, noun, want string }{
		{"", "dog", "must both hold tokens"},
		{"red", "", "must both hold tokens"},
	} {
		if _, err := WordsEntry(base, tc.word, tc.noun, created); err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("WordsEntry(%q, %q): %v, want an error naming %q", tc.word, tc.noun, err, tc.want)
		}
	}
}

// TestWordsEntryIn: from the default prompt it is WordsEntry; from a prompt of two
// objects the second object's entry differs from its one-object entry (the causal
// encoders' rows have seen the first object); a prompt without the words is refused,
// naming them.
func TestWordsEntryIn(t *testing.T) {
	base := tinyBase(t)
	created := time.Date(2026, 11, 26, 0, 0, 0, 0, time.UTC)
	alone, err := WordsEntry(base, "blue", "cat", created)
	if err != nil {
		t.Fatal(err)
	}
	same, err := WordsEntryIn(base, DefaultExtractPrompt("blue", "cat"), "blue", "cat", created)
	if err != nil {
		t.Fatal(err)
	}
	mod := base.UNet.CrossAttentionModules()[0]
	if !slices.Equal(same.Layers[mod].K, alone.Layers[mod].K) || !slices.Equal(same.Layers[mod].V, alone.Layers[mod].V) {
		t.Errorf("WordsEntryIn with the default prompt differs from WordsEntry")
	}
	second, err := WordsEntryIn(base, "a red dog and a blue cat", "blue", "cat", created)
	if err != nil {
		t.Fatal(err)
	}
	if second.NTok != 2 || second.ClassNoun != "cat" || second.ModifierToken != "blue" {
		t.Errorf("in context: n_tok %d class %q token %q", second.NTok, second.ClassNoun, second.ModifierToken)
	}
	for mod, l := range second.Layers {
		if slices.Equal(l.K, alone.Layers[mod].K) {
			t.Errorf("%s: the K of \"blue cat\" after \"a red dog and\" equals its K alone", mod)
		}
	}
	if _, err := WordsEntryIn(base, "a red dog", "blue", "cat", created); err == nil || !strings.Contains(err.Error(), `"blue"`) {
		t.Errorf("a prompt without the words: %v, want an error naming them", err)
	}
}

// TestExtractPlaces: place k's rows are exactly the bank rows extracted from
// PlacePrompt(fillers[:k-1], …); place 1's are the plain entry's; the file keeps them
// and ParseEntry counts layers and places; bad filler options are refused by name.
func TestExtractPlaces(t *testing.T) {
	base := tinyBase(t)
	d := goldenDelta(t, "latexblend_bank1", "dog")
	if got := PlacePrompt([]string{"cat", "cow"}, "<new1>", "dog"); got != "a cat, a cow and <new1> dog" {
		t.Errorf("PlacePrompt: %q", got)
	}
	created := time.Date(2026, 11, 26, 0, 0, 0, 0, time.UTC)
	e, err := Extract(base, d, ExtractOptions{Places: 3, Fillers: []string{"cat", "cow"}, Created: created})
	if err != nil {
		t.Fatal(err)
	}
	if e.NumPlaces() != 3 || !slices.Equal(e.PlacePrompts, []string{"a cat and <new1> dog", "a cat, a cow and <new1> dog"}) {
		t.Fatalf("places %d, prompts %q", e.NumPlaces(), e.PlacePrompts)
	}
	plain, err := Extract(base, d, ExtractOptions{Created: created})
	if err != nil {
		t.Fatal(err)
	}
	for k, prompt := range append([]string{DefaultExtractPrompt("<new1>", "dog")}, e.PlacePrompts...) {
		want, err := Extract(base, d, ExtractOptions{Prompt: prompt, Created: created})
		if err != nil {
			t.Fatal(err)
		}
		got, used := e.LayersAt(k + 1)
		if used != k+1 {
			t.Fatalf("LayersAt(%d) gave place %d", k+1, used)
		}
		for mod, l := range want.Layers {
			if !slices.Equal(got[mod].K, l.K) || !slices.Equal(got[mod].V, l.V) {
				t.Errorf("place %d, %s: rows differ from the entry extracted from %q", k+1, mod, prompt)
			}
			if k > 0 && slices.Equal(got[mod].K, plain.Layers[mod].K) {
				t.Errorf("place %d, %s: the K after other objects equals the one-object K", k+1, mod)
			}
		}
	}
	path := filepath.Join(t.TempDir(), "dog.safetensors")
	if err := blend.WriteEntry(path, e); err != nil {
		t.Fatal(err)
	}
	b, _ := os.ReadFile(path)
	info, err := ParseEntry(b)
	if err != nil || info.Layers != 12 || info.Places != 3 {
		t.Errorf("ParseEntry: %+v, %v; want 12 layers and 3 places", info, err)
	}
	for _, tc := range []struct {
		opts ExtractOptions
		want string
	}{
		{ExtractOptions{Places: 3, Fillers: []string{"cat"}}, "3 places need 2 filler nouns, 1 given"},
		{ExtractOptions{Places: 2, Fillers: []string{" "}}, `filler noun " " is empty`},
		{ExtractOptions{Places: 2, Fillers: []string{"dog"}}, `class noun "dog" is found in a filler of "a dog and <new1> dog"`},
		{ExtractOptions{Places: 99, Fillers: nil}, "99 places, want 1 … 16"},
	} {
		if _, err := Extract(base, d, tc.opts); err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("%+v: error %v, want %q", tc.opts, err, tc.want)
		}
	}
}
