package blend

import (
	"fmt"
	"sort"
	"strings"

	"github.com/nlpodyssey/gopickle/pytorch"
	"github.com/nlpodyssey/gopickle/types"
)

// The reference code's concept banks are torch.save files (concept_bank/*.pt): a dict
// from attention-processor names ("<attn2 module>.processor") to {"k": fp16[n_tok, C],
// "v": fp16[n_tok, C]}, the tensors being views into a larger storage. ReadTorchBank
// reads them directly (zip + pickle through gopickle) into an Entry.

// ptConvertHint tells users how to turn a bank this reader cannot handle into an entry.
const ptConvertHint = `convert it to a safetensors entry in Python: ` +
	`d = torch.load(path, map_location="cpu"); ` +
	`safetensors.torch.save_file({k.removesuffix(".processor") + "." + x: v[x].float().contiguous() for k, v in d.items() for x in ("k", "v")}, out, ` +
	`metadata={"format": "latexblend.entry/v1", "class_noun": NOUN, "n_tok": str(next(iter(d.values()))["k"].shape[0])})`

// ReadTorchBank reads a reference concept bank (.pt). classNoun is recorded in the
// entry (the file does not name it); the entry has no base model identity.
func ReadTorchBank(path, classNoun string) (*Entry, error) {
	obj, err := pytorch.Load(path)
	if err != nil {
		return nil, fmt.Errorf("blend: concept bank %s: cannot read it as a torch file (%v); %s", path, err, ptConvertHint)
	}
	top, err := pyMap(obj)
	if err != nil {
		return nil, fmt.Errorf("blend: concept bank %s: top level: %w; %s", path, err, ptConvertHint)
	}
	e := &Entry{ClassNoun: classNoun, Recipe: "converted from reference concept bank " + path, Layers: map[string]LayerKV{}}
	names := make([]string, 0, len(top))
	for k := range top {
		names = append(names, k)
	}
	sort.Strings(names)
	for _, name := range names {
		inner, err := pyMap(top[name])
		if err != nil {
			return nil, fmt.Errorf("blend: concept bank %s: %q: %w", path, name, err)
		}
		module := strings.TrimSuffix(name, ".processor")
		var l LayerKV
		for _, what := range []string{"k", "v"} {
			t, ok := inner[what].(*pytorch.Tensor)
			if !ok {
				return nil, fmt.Errorf("blend: concept bank %s: %q has no tensor %q", path, name, what)
			}
			vals, shape, err := torchFloats(t)
			if err != nil {
				return nil, fmt.Errorf("blend: concept bank %s: %q[%q]: %w", path, name, what, err)
			}
			if len(shape) != 2 {
				return nil, fmt.Errorf("blend: concept bank %s: %q[%q] has shape %v, want [n_tok, C]", path, name, what, shape)
			}
			if e.NTok == 0 {
				e.NTok = shape[0]
			}
			if shape[0] != e.NTok || (l.Channels != 0 && shape[1] != l.Channels) {
				return nil, fmt.Errorf("blend: concept bank %s: %q[%q] has shape %v, other tensors have %d tokens", path, name, what, shape, e.NTok)
			}
			l.Channels = shape[1]
			if what == "k" {
				l.K = vals
			} else {
				l.V = vals
			}
		}
		e.Layers[module] = l
	}
	if err := e.checkShape(); err != nil {
		return nil, fmt.Errorf("blend: concept bank %s: %w", path, err)
	}
	return e, nil
}

// pyMap turns an unpickled dict (or OrderedDict) with string keys into a Go map.
func pyMap(obj any) (map[string]any, error) {
	out := map[string]any{}
	switch d := obj.(type) {
	case *types.Dict:
		for _, en := range *d {
			k, ok := en.Key.(string)
			if !ok {
				return nil, fmt.Errorf("dict key %v is not a string", en.Key)
			}
			out[k] = en.Value
		}
	case *types.OrderedDict:
		for k, en := range d.Map {
			ks, ok := k.(string)
			if !ok {
				return nil, fmt.Errorf("dict key %v is not a string", k)
			}
			out[ks] = en.Value
		}
	default:
		return nil, fmt.Errorf("got a %T, want a dict", obj)
	}
	return out, nil
}

// torchFloats gathers a (possibly strided) float tensor into row-major float32.
func torchFloats(t *pytorch.Tensor) ([]float32, []int, error) {
	var data []float32
	switch s := t.Source.(type) {
	case *pytorch.HalfStorage:
		data = s.Data
	case *pytorch.FloatStorage:
		data = s.Data
	case *pytorch.BFloat16Storage:
		data = s.Data
	case *pytorch.DoubleStorage:
		data = make([]float32, len(s.Data))
		for i, v := range s.Data {
			data[i] = float32(v)
		}
	default:
		return nil, nil, fmt.Errorf("storage %T is not a float type", t.Source)
	}
	if len(t.Size) != len(t.Stride) {
		return nil, nil, fmt.Errorf("size %v and stride %v differ in rank", t.Size, t.Stride)
	}
	n := 1
	for _, d := range t.Size {
		n *= d
	}
	out := make([]float32, n)
	idx := make([]int, len(t.Size))
	for i := 0; i < n; i++ {
		off := t.StorageOffset
		for d, v := range idx {
			off += v * t.Stride[d]
		}
		if off < 0 || off >= len(data) {
			return nil, nil, fmt.Errorf("element %v lies outside the storage of %d values", idx, len(data))
		}
		out[i] = data[off]
		for d := len(idx) - 1; d >= 0; d-- {
			idx[d]++
			if idx[d] < t.Size[d] {
				break
			}
			idx[d] = 0
		}
	}
	return out, append([]int(nil), t.Size...), nil
}
