package trainer

import (
	"fmt"
	"strconv"
	"strings"

	"github.com/latexblend/latexblend/model/safetensors"
)

// Delta file metadata (design/architecture.md: format, modifier_token and class_noun
// are required, recipe and step optional).
const (
	DeltaFormat          = "latexblend.delta/v1"
	DeltaKeyFormat       = "format"
	DeltaKeyModifier     = "modifier_token"
	DeltaKeyClassNoun    = "class_noun"
	DeltaKeyRecipe       = "recipe"
	DeltaKeyStep         = "step"
	DeltaKeyBaseModelID  = "base_model_id"
	deltaTokenRowPrefix1 = "text_encoder.token_embedding."
	deltaTokenRowPrefix2 = "text_encoder_2.token_embedding."
)

// TokenRowName is the delta tensor name of a modifier token's row in encoder enc (0 or 1).
func TokenRowName(enc int, token string) string {
	if enc == 0 {
		return deltaTokenRowPrefix1 + token
	}
	return deltaTokenRowPrefix2 + token
}

// Delta is a fine-tuned concept: the trained attn2 to_k/to_v weights by UNet
// parameter name and the modifier token's rows of both text encoders.
type Delta struct {
	ModifierToken, ClassNoun string
	Recipe                   string
	Step                     int
	BaseModelID              string
	// Weights holds each trained UNet parameter ([out, in], row-major) and Shapes its
	// shape. A parameter it lacks is the base model's: a token-only delta holds none.
	Weights map[string][]float32
	Shapes  map[string][]int
	// Rows are the modifier token's embedding rows of text_encoder and text_encoder_2.
	Rows [2][]float32
}

// Delta returns the trainer's current delta.
func (t *Trainer) Delta() *Delta {
	d := &Delta{
		ModifierToken: t.recipe.ModifierToken, ClassNoun: t.recipe.ClassNoun, Recipe: t.recipe.JSON(),
		Step: t.step, BaseModelID: t.base.Identity, Weights: map[string][]float32{}, Shapes: map[string][]int{},
	}
	for _, p := range t.trainedKV() {
		d.Weights[p.Name] = append([]float32(nil), p.Value.Data().([]float32)...)
		d.Shapes[p.Name] = []int(p.Shape())
	}
	for i, e := range t.tr.encoders {
		row, _ := e.TokenRow(t.modifier)
		d.Rows[i] = row
	}
	return d
}

func (d *Delta) tensors() []safetensors.Tensor {
	var ts []safetensors.Tensor
	for name, w := range d.Weights {
		ts = append(ts, safetensors.Tensor{Name: name, Shape: d.Shapes[name], F32: w})
	}
	for i, r := range d.Rows {
		ts = append(ts, safetensors.Tensor{Name: TokenRowName(i, d.ModifierToken), Shape: []int{len(r)}, F32: r})
	}
	return ts
}

func (d *Delta) metadata() map[string]string {
	md := map[string]string{
		DeltaKeyFormat: DeltaFormat, DeltaKeyModifier: d.ModifierToken, DeltaKeyClassNoun: d.ClassNoun,
		DeltaKeyStep: strconv.Itoa(d.Step),
	}
	if d.Recipe != "" {
		md[DeltaKeyRecipe] = d.Recipe
	}
	if d.BaseModelID != "" {
		md[DeltaKeyBaseModelID] = d.BaseModelID
	}
	return md
}

// WriteDelta writes d as a latexblend.delta/v1 safetensors file (atomically).
func WriteDelta(path string, d *Delta) error {
	if err := safetensors.WriteFile(path, d.tensors(), d.metadata()); err != nil {
		return fmt.Errorf("writing delta: %w", err)
	}
	return nil
}

// EncodeDelta returns d as latexblend.delta/v1 safetensors bytes.
func EncodeDelta(d *Delta) ([]byte, error) {
	b, err := safetensors.Marshal(d.tensors(), d.metadata())
	if err != nil {
		return nil, fmt.Errorf("encoding delta: %w", err)
	}
	return b, nil
}

// ReadDelta reads a delta file.
func ReadDelta(path string) (*Delta, error) {
	f, err := safetensors.Open(path)
	if err != nil {
		return nil, fmt.Errorf("delta %s: %w", path, err)
	}
	defer f.Close()
	d, err := parseDelta(f)
	if err != nil {
		return nil, fmt.Errorf("delta %s: %w", path, err)
	}
	return d, nil
}

// DecodeDelta parses delta bytes.
func DecodeDelta(b []byte) (*Delta, error) {
	f, err := safetensors.OpenBytes("delta", b)
	if err != nil {
		return nil, fmt.Errorf("delta: %w", err)
	}
	defer f.Close()
	d, err := parseDelta(f)
	if err != nil {
		return nil, fmt.Errorf("delta: %w", err)
	}
	return d, nil
}

// parseDelta accepts any file whose metadata has format latexblend.delta/v1,
// modifier_token and class_noun and that holds both token rows; every other tensor
// must be a float weight named by its UNet parameter.
func parseDelta(f *safetensors.File) (*Delta, error) {
	md := f.Metadata()
	if md[DeltaKeyFormat] != DeltaFormat {
		return nil, fmt.Errorf("__metadata__ %q is %q, want %q", DeltaKeyFormat, md[DeltaKeyFormat], DeltaFormat)
	}
	d := &Delta{ModifierToken: md[DeltaKeyModifier], ClassNoun: md[DeltaKeyClassNoun], Recipe: md[DeltaKeyRecipe],
		BaseModelID: md[DeltaKeyBaseModelID], Weights: map[string][]float32{}, Shapes: map[string][]int{}}
	for _, k := range []string{DeltaKeyModifier, DeltaKeyClassNoun} {
		if strings.TrimSpace(md[k]) == "" {
			return nil, fmt.Errorf("__metadata__ lacks %q", k)
		}
	}
	if s := md[DeltaKeyStep]; s != "" {
		n, err := strconv.Atoi(s)
		if err != nil || n < 0 {
			return nil, fmt.Errorf("__metadata__ %q = %q is not a step count", DeltaKeyStep, s)
		}
		d.Step = n
	}
	for _, info := range f.Tensors() {
		if !info.DType.IsFloat() {
			return nil, fmt.Errorf("tensor %q is %s, want a float type", info.Name, info.DType)
		}
		v, _, err := f.Float32(info.Name)
		if err != nil {
			return nil, err
		}
		switch info.Name {
		case TokenRowName(0, d.ModifierToken):
			d.Rows[0] = v
		case TokenRowName(1, d.ModifierToken):
			d.Rows[1] = v
		default:
			if strings.HasPrefix(info.Name, deltaTokenRowPrefix1) || strings.HasPrefix(info.Name, deltaTokenRowPrefix2) {
				return nil, fmt.Errorf("tensor %q is a token row, but the modifier token is %q", info.Name, d.ModifierToken)
			}
			d.Weights[info.Name] = v
			d.Shapes[info.Name] = append([]int(nil), info.Shape...)
		}
	}
	for i, r := range d.Rows {
		if len(r) == 0 {
			return nil, fmt.Errorf("tensor %q is missing", TokenRowName(i, d.ModifierToken))
		}
	}
	return d, nil
}
