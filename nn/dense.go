package nn

import "gorgonia.org/tensor"

// Float64s returns a float64 copy of a float32 or float64 tensor's data (nil for other
// dtypes): the form host-side code outside the graph works in, whatever the model's dtype.
func Float64s(t *tensor.Dense) []float64 {
	switch d := t.Data().(type) {
	case []float32:
		out := make([]float64, len(d))
		for i, v := range d {
			out[i] = float64(v)
		}
		return out
	case []float64:
		return append([]float64(nil), d...)
	}
	return nil
}

// DenseFromFloat64 builds a tensor of dtype dt (Float32 or Float64) and the given shape
// from float64 values, copying them; the inverse of Float64s.
func DenseFromFloat64(dt tensor.Dtype, v []float64, shape ...int) *tensor.Dense {
	if dt == tensor.Float32 {
		w := make([]float32, len(v))
		for i, x := range v {
			w[i] = float32(x)
		}
		return tensor.New(tensor.WithShape(shape...), tensor.WithBacking(w))
	}
	return tensor.New(tensor.WithShape(shape...), tensor.WithBacking(append([]float64(nil), v...)))
}
