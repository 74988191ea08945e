package nn

import (
	"errors"
	"fmt"
	"math/rand"
	"sort"
	"strings"

	"gorgonia.org/tensor"
)

// Param is one named parameter tensor. Value is shared by every graph that uses the
// parameter, so an optimiser that updates Value in place is seen by the next run without
// rebuilding anything. Grad has Value's shape; Program.Run overwrites it after a backward
// pass for trainable parameters.
type Param struct {
	Name      string
	Value     *tensor.Dense
	Grad      *tensor.Dense
	trainable bool
}

// Trainable reports whether backward passes compute this parameter's gradient.
func (p *Param) Trainable() bool { return p.trainable }

// Shape returns the parameter's shape.
func (p *Param) Shape() tensor.Shape { return p.Value.Shape().Clone() }

// Params is a model's parameter store: a name → tensor map whose names are the model's
// checkpoint keys (diffusers-style dotted paths such as
// "down_blocks.1.attentions.0.transformer_blocks.0.attn2.to_k.weight").
//
// Module constructors register parameters here and do not return errors; the first
// registration error (a duplicate name, a non-positive dimension) is kept and returned
// by Err, so a model constructor checks once at the end.
type Params struct {
	dtype  tensor.Dtype
	order  []string
	byName map[string]*Param
	err    error
	// gen changes whenever the trainable set changes, so programs compiled for the
	// old set are not reused.
	gen int
}

// NewParams returns an empty store whose tensors have the given dtype (tensor.Float32 for
// models, tensor.Float64 for gradient checks).
func NewParams(dtype tensor.Dtype) *Params {
	return &Params{dtype: dtype, byName: map[string]*Param{}}
}

// Dtype is the element type of every parameter in the store.
func (ps *Params) Dtype() tensor.Dtype { return ps.dtype }

// Err returns the first error met while registering parameters.
func (ps *Params) Err() error { return ps.err }

// New registers a zero-filled parameter. On a bad name or shape it records the error
// (see Err) and still returns a usable parameter so that construction can go on.
func (ps *Params) New(name string, shape ...int) *Param {
	bad := name == "" || strings.HasPrefix(name, ".") || strings.HasSuffix(name, ".")
	if bad && ps.err == nil {
		ps.err = fmt.Errorf("nn: parameter name %q is not a dotted path", name)
	}
	for _, d := range shape {
		if d <= 0 && ps.err == nil {
			ps.err = fmt.Errorf("nn: parameter %q: shape %v has a non-positive dimension", name, shape)
		}
	}
	if _, dup := ps.byName[name]; dup && ps.err == nil {
		ps.err = fmt.Errorf("nn: parameter %q registered twice", name)
	}
	safe := make([]int, len(shape))
	for i, d := range shape {
		safe[i] = max(d, 1)
	}
	p := &Param{Name: name, Value: tensor.New(tensor.Of(ps.dtype), tensor.WithShape(safe...))}
	if _, dup := ps.byName[name]; !dup {
		ps.order = append(ps.order, name)
		ps.byName[name] = p
	}
	return p
}

// Get returns the named parameter, or nil.
func (ps *Params) Get(name string) *Param { return ps.byName[name] }

// Names lists every parameter name in registration order.
func (ps *Params) Names() []string { return append([]string(nil), ps.order...) }

// Len is the number of parameters.
func (ps *Params) Len() int { return len(ps.order) }

// Count is the total number of scalar values over all parameters.
func (ps *Params) Count() int {
	n := 0
	for _, name := range ps.order {
		n += ps.byName[name].Value.Shape().TotalSize()
	}
	return n
}

// SetTrainable marks the parameters whose names satisfy keep as trainable and every other
// one as frozen, allocating gradient buffers for the trainable ones. It returns how many
// are trainable.
func (ps *Params) SetTrainable(keep func(name string) bool) int {
	n := 0
	for _, name := range ps.order {
		p := ps.byName[name]
		p.trainable = keep(name)
		if p.trainable {
			n++
			if p.Grad == nil {
				p.Grad = tensor.New(tensor.Of(ps.dtype), tensor.WithShape(p.Value.Shape().Clone()...))
			}
		} else {
			p.Grad = nil
		}
	}
	ps.gen++
	return n
}

// Trainable lists the trainable parameters in registration order.
func (ps *Params) Trainable() []*Param {
	var out []*Param
	for _, name := range ps.order {
		if p := ps.byName[name]; p.trainable {
			out = append(out, p)
		}
	}
	return out
}

// Randomize fills every parameter with N(0, std²) values (biases and norm weights
// included), for tests and benchmarks that need a model without a checkpoint.
func (ps *Params) Randomize(rng *rand.Rand, std float64) {
	for _, name := range ps.order {
		switch d := ps.byName[name].Value.Data().(type) {
		case []float32:
			for i := range d {
				d[i] = float32(rng.NormFloat64() * std)
			}
		case []float64:
			for i := range d {
				d[i] = rng.NormFloat64() * std
			}
		}
	}
}

// Tensor is a named tensor's content as read from a checkpoint: row-major float32 values.
type Tensor struct {
	Shape []int
	Data  []float32
}

// LoadError lists every mismatch between a checkpoint and a store.
type LoadError struct {
	Missing    []string // in the store, not in the checkpoint
	Unexpected []string // in the checkpoint, not in the store
	Misshaped  []string // "name: checkpoint [a b], model [c d]" (or a data-length problem)
}

func (e *LoadError) Error() string {
	var parts []string
	add := func(what string, names []string) {
		if len(names) > 0 {
			parts = append(parts, fmt.Sprintf("%d %s: %s", len(names), what, strings.Join(names, ", ")))
		}
	}
	add("missing", e.Missing)
	add("unexpected", e.Unexpected)
	add("mis-shaped", e.Misshaped)
	return "nn: checkpoint does not match the model: " + strings.Join(parts, "; ")
}

// LoadOptions relax Load's checks.
type LoadOptions struct {
	// AllowMissing leaves parameters absent from the checkpoint untouched.
	AllowMissing bool
	// AllowUnexpected ignores checkpoint tensors the model does not have.
	AllowUnexpected bool
}

// Load copies checkpoint tensors into the store's parameters (converting to the store's
// dtype). Unless relaxed by opts, every parameter must be present, every tensor must be
// a parameter, and shapes must agree exactly; any violation returns one *LoadError
// listing all of them, and then nothing is copied.
func (ps *Params) Load(src map[string]Tensor, opts LoadOptions) error {
	le := &LoadError{}
	for _, name := range ps.order {
		t, ok := src[name]
		if !ok {
			if !opts.AllowMissing {
				le.Missing = append(le.Missing, name)
			}
			continue
		}
		want := ps.byName[name].Value.Shape()
		switch {
		case !shapeEqual(t.Shape, want):
			le.Misshaped = append(le.Misshaped, fmt.Sprintf("%s: checkpoint %v, model %v", name, t.Shape, []int(want)))
		case len(t.Data) != want.TotalSize():
			le.Misshaped = append(le.Misshaped, fmt.Sprintf("%s: %d values for shape %v", name, len(t.Data), t.Shape))
		}
	}
	if !opts.AllowUnexpected {
		for name := range src {
			if _, ok := ps.byName[name]; !ok {
				le.Unexpected = append(le.Unexpected, name)
			}
		}
		sort.Strings(le.Unexpected)
	}
	if len(le.Missing)+len(le.Unexpected)+len(le.Misshaped) > 0 {
		return le
	}
	for _, name := range ps.order {
		t, ok := src[name]
		if !ok {
			continue
		}
		switch d := ps.byName[name].Value.Data().(type) {
		case []float32:
			copy(d, t.Data)
		case []float64:
			for i, v := range t.Data {
				d[i] = float64(v)
			}
		}
	}
	return nil
}

// IsLoadError reports whether err is (or wraps) a *LoadError and returns it.
func IsLoadError(err error) (*LoadError, bool) {
	var le *LoadError
	ok := errors.As(err, &le)
	return le, ok
}

func shapeEqual(a []int, b tensor.Shape) bool {
	if len(a) != len(b) {
		return false
	}
	for i := range a {
		if a[i] != b[i] {
			return false
		}
	}
	return true
}

// Join builds a dotted parameter path, skipping empty parts: Join("a", "", "b") = "a.b".
func Join(parts ...string) string {
	var keep []string
	for _, p := range parts {
		if p != "" {
			keep = append(keep, p)
		}
	}
	return strings.Join(keep, ".")
}
