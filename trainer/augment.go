package trainer

import "math/rand/v2"

// augmentInstance is the reference's instance transform (Custom Diffusion's data
// pipeline): optional horizontal flip (p = 0.5), then random-scale augmentation — 2/3
// of the time a scale in [size/3, size], else in [1.2·size, 1.4·size), rounded up to
// even; a smaller image is pasted at a random place on a zero (mid-grey) canvas and its
// latent-resolution mask covers the pasted region shrunk by one latent pixel at each
// border; a larger one is randomly cropped with an all-ones mask. Without augment the
// image is resized to size with an all-ones mask.
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
	if !augment {
		img.resize(size, size).planes(dst, size, 0, 0)
		for i := range mask {
			mask[i] = 1
		}
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
	outer, inner := size, scale
	if scale > size {
		outer, inner = scale, size
	}
	top, left := rng.IntN(outer-inner+1), rng.IntN(outer-inner+1)
	resized := img.resize(scale, scale)
	if scale > size {
		resized.crop(left, top, size, size).planes(dst, size, 0, 0)
		for i := range mask {
			mask[i] = 1
		}
		return
	}
	resized.planes(dst, size, left, top)
	for y := top/factor + 1; y < (top+scale)/factor-1; y++ {
		for x := left/factor + 1; x < (left+scale)/factor-1; x++ {
			if y >= 0 && y < ms && x >= 0 && x < ms {
				mask[y*ms+x] = 1
			}
		}
	}
}
