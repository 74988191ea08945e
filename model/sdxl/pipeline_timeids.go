package sdxl

import (
	"fmt"

	"gorgonia.org/tensor"
)

// SizeConditioning is SDXL's micro-conditioning of one image: the six numbers of
// diffusers' add_time_ids. Sizes are (height, width) pairs; a zero pair means the
// request's image size, as diffusers' `original_size or (height, width)` does.
type SizeConditioning struct {
	OriginalSize       [2]int `json:"original_size"`         // (height, width) the model is told the image had
	CropsCoordsTopLeft [2]int `json:"crops_coords_top_left"` // (top, left) of the crop it is told was taken
	TargetSize         [2]int `json:"target_size"`           // (height, width) it is told to produce
}

// resolved fills zero sizes with (height, width).
func (c SizeConditioning) resolved(height, width int) SizeConditioning {
	if c.OriginalSize == [2]int{} {
		c.OriginalSize = [2]int{height, width}
	}
	if c.TargetSize == [2]int{} {
		c.TargetSize = [2]int{height, width}
	}
	return c
}

// TimeIDs returns the six add_time_ids in diffusers' order: original size, crop
// top-left, target size (_get_add_time_ids, v0.21.4).
func (c SizeConditioning) TimeIDs() [6]float32 {
	return [6]float32{
		float32(c.OriginalSize[0]), float32(c.OriginalSize[1]),
		float32(c.CropsCoordsTopLeft[0]), float32(c.CropsCoordsTopLeft[1]),
		float32(c.TargetSize[0]), float32(c.TargetSize[1]),
	}
}

func (c SizeConditioning) check(what string) error {
	for i, v := range [6]int{c.OriginalSize[0], c.OriginalSize[1], c.CropsCoordsTopLeft[0], c.CropsCoordsTopLeft[1], c.TargetSize[0], c.TargetSize[1]} {
		if v < 0 {
			return fmt.Errorf("sdxl: %s: add_time_ids entry %d is %d; sizes and crop coordinates cannot be negative", what, i, v)
		}
	}
	return nil
}

// AddTimeIDs builds the UNet's time_ids [rows, 6] as the pipeline does: n copies of the
// negative ids then n of the positive ones under guidance, n positive ones without.
func AddTimeIDs(pos, neg SizeConditioning, n int, guidance bool) *tensor.Dense {
	var rows [][6]float32
	if guidance {
		for range n {
			rows = append(rows, neg.TimeIDs())
		}
	}
	for range n {
		rows = append(rows, pos.TimeIDs())
	}
	data := make([]float32, 0, 6*len(rows))
	for _, r := range rows {
		data = append(data, r[:]...)
	}
	return tensor.New(tensor.WithShape(len(rows), 6), tensor.WithBacking(data))
}
