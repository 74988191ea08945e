package diffusers

import (
	"fmt"
	"slices"
	"strings"

	"github.com/latexblend/latexblend/model/safetensors"
)

// ParamSpec is a parameter a model expects: its checkpoint key and shape.
type ParamSpec struct {
	Name  string
	Shape []int
}

// NumElements is the product of the shape.
func (p ParamSpec) NumElements() int64 {
	n := int64(1)
	for _, d := range p.Shape {
		n *= int64(d)
	}
	return n
}

// TensorSource is what Check reads: tensor names and descriptions.
// *safetensors.File and *Weights implement it.
type TensorSource interface {
	Names() []string
	Info(name string) (safetensors.TensorInfo, bool)
}

// CheckOptions tunes Check.
type CheckOptions struct {
	// AllowUnexpected, when set, returns true for file tensors the model may ignore
	// (e.g. text_model.embeddings.position_ids, a buffer some CLIP files carry).
	AllowUnexpected func(name string) bool
}

// Misshaped is a tensor present in both the model and the file with different shapes.
type Misshaped struct {
	Name      string
	File      []int
	Model     []int
	FileDType safetensors.DType
}

// MismatchError lists every way a weights file disagrees with a model.
type MismatchError struct {
	Source     string // the weights file or folder
	Missing    []ParamSpec
	Unexpected []safetensors.TensorInfo
	Misshaped  []Misshaped
	// NotFloat are expected tensors stored with a dtype Float32 cannot read.
	NotFloat []safetensors.TensorInfo
	// Duplicate names appear more than once in the model's own list (a model bug).
	Duplicate []string
}

func (e *MismatchError) Error() string {
	var b strings.Builder
	fmt.Fprintf(&b, "diffusers: %s: weights do not match the model: %d missing, %d unexpected, %d mis-shaped, %d not float",
		e.Source, len(e.Missing), len(e.Unexpected), len(e.Misshaped), len(e.NotFloat))
	if len(e.Duplicate) > 0 {
		fmt.Fprintf(&b, ", %d duplicated in the model", len(e.Duplicate))
	}
	for _, m := range e.Missing {
		fmt.Fprintf(&b, "\n  missing %s %v", m.Name, m.Shape)
	}
	for _, u := range e.Unexpected {
		fmt.Fprintf(&b, "\n  unexpected %s %s %v", u.Name, u.DType, u.Shape)
	}
	for _, m := range e.Misshaped {
		fmt.Fprintf(&b, "\n  mis-shaped %s: file %v, model %v", m.Name, m.File, m.Model)
	}
	for _, t := range e.NotFloat {
		fmt.Fprintf(&b, "\n  not float %s: dtype %s", t.Name, t.DType)
	}
	for _, d := range e.Duplicate {
		fmt.Fprintf(&b, "\n  duplicated in the model %s", d)
	}
	return b.String()
}

// Count is the total number of problems.
func (e *MismatchError) Count() int {
	return len(e.Missing) + len(e.Unexpected) + len(e.Misshaped) + len(e.NotFloat) + len(e.Duplicate)
}

// sourceName names a TensorSource in errors.
func sourceName(src TensorSource) string {
	if p, ok := src.(interface{ Path() string }); ok {
		return p.Path()
	}
	return "weights"
}

// Check compares the tensors of src with the parameters a model expects and returns
// a *MismatchError listing every missing, unexpected, mis-shaped and non-float tensor,
// or nil when they match exactly.
func Check(src TensorSource, want []ParamSpec, opts CheckOptions) error {
	e := &MismatchError{Source: sourceName(src)}
	expected := make(map[string]bool, len(want))
	for _, p := range want {
		if expected[p.Name] {
			e.Duplicate = append(e.Duplicate, p.Name)
			continue
		}
		expected[p.Name] = true
		info, ok := src.Info(p.Name)
		switch {
		case !ok:
			e.Missing = append(e.Missing, p)
		case !slices.Equal(info.Shape, p.Shape):
			e.Misshaped = append(e.Misshaped, Misshaped{Name: p.Name, File: info.Shape, Model: p.Shape, FileDType: info.DType})
		case !info.DType.IsFloat():
			e.NotFloat = append(e.NotFloat, info)
		}
	}
	for _, name := range src.Names() {
		if expected[name] || (opts.AllowUnexpected != nil && opts.AllowUnexpected(name)) {
			continue
		}
		info, _ := src.Info(name)
		e.Unexpected = append(e.Unexpected, info)
	}
	if e.Count() > 0 {
		return e
	}
	return nil
}

// Float32Source is a TensorSource that can fill float32 buffers.
// *safetensors.File and *Weights implement it.
type Float32Source interface {
	TensorSource
	Float32Into(name string, dst []float32) error
}

// Target is a model parameter to fill: its spec and its storage, which must hold
// exactly NumElements values.
type Target struct {
	ParamSpec
	Data []float32
}

// Load checks src against the targets (see Check) and, only if everything matches,
// reads each tensor into its target's storage, converting F16/BF16/F64 to float32.
func Load(src Float32Source, targets []Target, opts CheckOptions) error {
	specs := make([]ParamSpec, len(targets))
	for i, t := range targets {
		if int64(len(t.Data)) != t.NumElements() {
			return fmt.Errorf("diffusers: parameter %q: storage holds %d values, shape %v needs %d",
				t.Name, len(t.Data), t.Shape, t.NumElements())
		}
		specs[i] = t.ParamSpec
	}
	if err := Check(src, specs, opts); err != nil {
		return err
	}
	for _, t := range targets {
		if err := src.Float32Into(t.Name, t.Data); err != nil {
			return fmt.Errorf("diffusers: loading %q: %w", t.Name, err)
		}
	}
	return nil
}

// CLIPTextBuffers are non-parameter tensors that transformers' CLIP text checkpoints
// may carry (position_ids, an int64 [1, 77] buffer); a loader ignores them.
var CLIPTextBuffers = []string{"text_model.embeddings.position_ids"}

// AllowNames returns an AllowUnexpected function accepting exactly the given names.
func AllowNames(names ...string) func(string) bool {
	set := make(map[string]bool, len(names))
	for _, n := range names {
		set[n] = true
	}
	return func(name string) bool { return set[name] }
}
