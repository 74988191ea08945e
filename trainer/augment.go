package trainer

import "math/rand/v2"

// augmentInstance is the reference's instance transform (LatexBlend's
// src/diffusers_data_pipeline.py, from Custom Diffusion): optional horizontal flip
// (p = 0.5), then random-scale augmentation. The scale is drawn in [size/3, size] two
// times in three, else in [1.2·size, 1.4·size), and rounded up to even. Below 0.6·size
// the image is resized to scale×scale and pasted, centred at a random (row, column),
// on a zero (mid-grey) canvas, and the latent-resolution mask covers the pasted square
// shrunk by one latent pixel at each border; above size it is resized and a size×size
// window at a random centre is cut out; otherwise it is resized to size. Both of those
// have an all-ones mask. (The reference hard-codes the latent factor 8; here it is the
// VAE's factor.) Without augment the image is resized to size.
//
// It writes the image planes ([3, size, size] in [-1, 1]) into dst and the mask
// ([size/factor]²) into mask.
func augmentInstance(rng *rand.Rand, src *rgbImage, size, factor int, hflip, augment bool, dst, mask []float32) {
	img := src
	if hflip && rng.IntN(2) == 0 {
		img = img.flip()
	}
	clear(dst)
	clear(mask)
	ms := size / factor
	full := func() {
		for i := range mask {
			mask[i] = 1
		}
	}
	if !augment {
		img.resize(size, size).planes(dst, size, 0, 0)
		full()
		return
	}
	var scale int
	if rng.IntN(3) < 2 {
		scale = size/3 + rng.IntN(size-size/3+1)
	} else {
		lo, hi := int(1.2*float64(size)), int(1.4*float64(size))
		scale = lo + rng.IntN(max(hi-lo, 1))
	}
	if scale%2 == 1 {
		scale++
	}
	half := scale / 2
	switch {
	case float64(scale) < 0.6*float64(size):
		cx := half + rng.IntN(size-2*half+1) // row of the centre
		cy := half + rng.IntN(size-2*half+1) // column
		img.resize(scale, scale).planes(dst, size, cy-half, cx-half)
		for y := (cx-half)/factor + 1; y < (cx+half)/factor-1; y++ {
			for x := (cy-half)/factor + 1; x < (cy+half)/factor-1; x++ {
				if y >= 0 && y < ms && x >= 0 && x < ms {
					mask[y*ms+x] = 1
				}
			}
		}
	case scale > size:
		cx := size/2 + rng.IntN(scale-size+1)
		cy := size/2 + rng.IntN(scale-size+1)
		img.resize(scale, scale).crop(cy-size/2, cx-size/2, size, size).planes(dst, size, 0, 0)
		full()
	default:
		img.resize(size, size).planes(dst, size, 0, 0)
		full()
	}
}
