package blend

import (
	"fmt"
	"path/filepath"
	"strings"
	"testing"

	"github.com/latexblend/latexblend/internal/golden"
	"github.com/latexblend/latexblend/internal/goldentest"
	"github.com/latexblend/latexblend/model/clip"
	"github.com/latexblend/latexblend/model/sdxl"
)

// TestGoldenBankExtraction recomputes golden latexblend_bank{1,2}: the concept prompt
// "photo of <new1> NOUN" encoded with the stand-in learned <new1> rows, rows [start,
// end) of its embeddings projected by the stand-in fine-tuned to_k/to_v of every attn2
// (ExtractEntry), against the reference's bank within 1e-4; the slot comes from the
// plain prompt "photo of a NOUN" as the reference finds it.
func TestGoldenBankExtraction(t *testing.T) {
	dir := filepath.Join(golden.Dir(t), "tiny-sdxl")
	for i, noun := range []string{"dog", "sunglasses"} {
		name := fmt.Sprintf("latexblend_bank%d", i+1)
		t.Run(name, func(t *testing.T) {
			ref := goldentest.Case(t, name)
			enc, err := sdxl.LoadPromptEncoder(dir)
			if err != nil {
				t.Fatal(err)
			}
			defer enc.Close()
			ids, err := enc.AddTokens([]string{"<new1>"}, []string{"ktn"})
			if err != nil {
				t.Fatal(err)
			}
			for k, te := range []*clip.TextEncoder{enc.TextEncoder, enc.TextEncoder2} {
				row, _ := goldentest.F32(t, ref, fmt.Sprintf("delta.new1_embed_%d", k+1))
				w := te.Model.TokenEmbedding.Weight.Value.Data().([]float32)
				copy(w[ids[0]*len(row):(ids[0]+1)*len(row)], row)
			}
			slots, err := FindSlots(enc.Tokenizer, "photo of a "+noun, []string{noun})
			if err != nil {
				t.Fatal(err)
			}
			if slots[0].Start != 3 || slots[0].End != 5 {
				t.Fatalf("slot %+v, want [3, 5) as in the golden case", slots[0])
			}
			emb, err := enc.EncodePrompt(sdxl.PromptRequest{Prompts: []string{"photo of <new1> " + noun}})
			if err != nil {
				t.Fatal(err)
			}
			dim := emb.PromptEmbeds.Shape()[2]
			proj := map[string]Projection{}
			for _, n := range ref.Names() {
				if !strings.HasPrefix(n, "delta.unet.") || !strings.HasSuffix(n, ".to_k.weight") {
					continue
				}
				mod := strings.TrimSuffix(strings.TrimPrefix(n, "delta.unet."), ".to_k.weight")
				k, s := goldentest.F32(t, ref, n)
				v, _ := goldentest.F32(t, ref, "delta.unet."+mod+".to_v.weight")
				proj[mod] = Projection{Channels: s[0], K: k, V: v}
			}
			e, err := ExtractEntry(emb.PromptEmbeds.Data().([]float32), dim, slots[0], proj, Entry{ClassNoun: noun, ModifierToken: "<new1>"})
			if err != nil {
				t.Fatal(err)
			}
			want := bankEntry(t, name, noun)
			if len(e.Layers) != len(want.Layers) || len(e.Layers) == 0 {
				t.Fatalf("%d layers, want %d", len(e.Layers), len(want.Layers))
			}
			var worst float64
			for m, l := range want.Layers {
				got := e.Layers[m]
				worst = max(worst, goldentest.RelErr(got.K, l.K), goldentest.RelErr(got.V, l.V))
			}
			t.Logf("worst layer rel err %.3g", worst)
			if worst > tolSingle {
				t.Errorf("bank K/V: rel err %.3g > %g", worst, tolSingle)
			}
		})
	}
}
