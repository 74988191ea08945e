package clip

import (
	"fmt"

	"gorgonia.org/tensor"
)

// PooledPosition is the position CLIP pools a sequence at: the first index of the
// largest id. transformers 4.30.2 does input_ids.argmax(-1) because the configs carry
// the legacy eos_token_id 2; with CLIP's vocabulary that is the first EOS (49407)
// — unless the prompt holds an added token (<new1> = 49408), which then wins. The
// reference behaves this way and the golden tensors depend on it, so we do too.
func PooledPosition(ids []int) int {
	best := 0
	for i, id := range ids {
		if id > ids[best] {
			best = i
		}
	}
	return best
}

// IDsTensor packs equal-length id rows into a [B, L] tensor of dtype (float32 or
// float64), the form Forward reads token ids in.
func IDsTensor(dtype tensor.Dtype, ids [][]int) (*tensor.Dense, error) {
	if len(ids) == 0 {
		return nil, fmt.Errorf("clip: no id rows")
	}
	l := len(ids[0])
	flat := make([]int, 0, len(ids)*l)
	for i, row := range ids {
		if len(row) != l {
			return nil, fmt.Errorf("clip: id row %d has %d ids, row 0 has %d", i, len(row), l)
		}
		flat = append(flat, row...)
	}
	if l == 0 {
		return nil, fmt.Errorf("clip: id rows are empty")
	}
	return denseOf(dtype, flat, len(ids), l), nil
}

// PoolSelectTensor is the [B, 1, 1, L] one-hot pool selector for ids (1 at
// PooledPosition of each row), for ForwardOptions.PoolSelect.
func PoolSelectTensor(dtype tensor.Dtype, ids [][]int) (*tensor.Dense, error) {
	if len(ids) == 0 || len(ids[0]) == 0 {
		return nil, fmt.Errorf("clip: no ids to pool")
	}
	l := len(ids[0])
	sel := make([]int, len(ids)*l)
	for i, row := range ids {
		if len(row) != l {
			return nil, fmt.Errorf("clip: id row %d has %d ids, row 0 has %d", i, len(row), l)
		}
		sel[i*l+PooledPosition(row)] = 1
	}
	return denseOf(dtype, sel, len(ids), 1, 1, l), nil
}

// denseOf makes a float tensor of the given dtype holding whole numbers.
func denseOf(dtype tensor.Dtype, vals []int, shape ...int) *tensor.Dense {
	if dtype == tensor.Float64 {
		d := make([]float64, len(vals))
		for i, v := range vals {
			d[i] = float64(v)
		}
		return tensor.New(tensor.WithShape(shape...), tensor.WithBacking(d))
	}
	d := make([]float32, len(vals))
	for i, v := range vals {
		d[i] = float32(v)
	}
	return tensor.New(tensor.WithShape(shape...), tensor.WithBacking(d))
}
