package trainer

import (
	"image"
	"image/color"
	"math"
)

// rgbImage is an 8-bit RGB raster, row-major, 3 bytes per pixel.
type rgbImage struct {
	w, h int
	pix  []uint8
}

// toRGB converts any image to RGB, dropping alpha as PIL's convert("RGB") does.
func toRGB(img image.Image) *rgbImage {
	r := img.Bounds()
	out := &rgbImage{w: r.Dx(), h: r.Dy(), pix: make([]uint8, 3*r.Dx()*r.Dy())}
	for y := 0; y < out.h; y++ {
		for x := 0; x < out.w; x++ {
			c := color.NRGBAModel.Convert(img.At(r.Min.X+x, r.Min.Y+y)).(color.NRGBA)
			i := 3 * (y*out.w + x)
			out.pix[i], out.pix[i+1], out.pix[i+2] = c.R, c.G, c.B
		}
	}
	return out
}

// resize resamples to w×h with PIL's BILINEAR filter (a triangle filter whose support
// widens with the downscale factor, i.e. antialiased), horizontal pass first, each
// pass rounded to 8 bits as PIL does.
func (m *rgbImage) resize(w, h int) *rgbImage {
	tmp := resample1D(m, w, true)
	return resample1D(tmp, h, false)
}

func resample1D(m *rgbImage, n int, horizontal bool) *rgbImage {
	inLen, other := m.h, m.w
	out := &rgbImage{w: m.w, h: n}
	if horizontal {
		inLen, other = m.w, m.h
		out = &rgbImage{w: n, h: m.h}
	}
	out.pix = make([]uint8, 3*out.w*out.h)
	scale := float64(inLen) / float64(n)
	fscale := math.Max(scale, 1)
	support := fscale // bilinear support 1, widened when shrinking
	for o := 0; o < n; o++ {
		center := (float64(o) + 0.5) * scale
		lo := max(int(math.Floor(center-support+0.5)), 0)
		hi := min(int(math.Floor(center+support+0.5)), inLen)
		weights := make([]float64, hi-lo)
		var sum float64
		for i := lo; i < hi; i++ {
			t := math.Abs((float64(i) - center + 0.5) / fscale)
			if t < 1 {
				weights[i-lo] = 1 - t
				sum += 1 - t
			}
		}
		for j := 0; j < other; j++ {
			var acc [3]float64
			for i := lo; i < hi; i++ {
				wt := weights[i-lo]
				if wt == 0 {
					continue
				}
				var at int
				if horizontal {
					at = 3 * (j*m.w + i)
				} else {
					at = 3 * (i*m.w + j)
				}
				acc[0] += wt * float64(m.pix[at])
				acc[1] += wt * float64(m.pix[at+1])
				acc[2] += wt * float64(m.pix[at+2])
			}
			var dst int
			if horizontal {
				dst = 3 * (j*out.w + o)
			} else {
				dst = 3 * (o*out.w + j)
			}
			for c := range 3 {
				out.pix[dst+c] = clampByte(acc[c] / sum)
			}
		}
	}
	return out
}

func clampByte(v float64) uint8 {
	v = math.Round(v)
	if v < 0 {
		return 0
	}
	if v > 255 {
		return 255
	}
	return uint8(v)
}

// flip mirrors the image horizontally.
func (m *rgbImage) flip() *rgbImage {
	out := &rgbImage{w: m.w, h: m.h, pix: make([]uint8, len(m.pix))}
	for y := 0; y < m.h; y++ {
		for x := 0; x < m.w; x++ {
			copy(out.pix[3*(y*m.w+m.w-1-x):3*(y*m.w+m.w-x)], m.pix[3*(y*m.w+x):3*(y*m.w+x+1)])
		}
	}
	return out
}

// crop returns the w×h region at (left, top).
func (m *rgbImage) crop(left, top, w, h int) *rgbImage {
	out := &rgbImage{w: w, h: h, pix: make([]uint8, 3*w*h)}
	for y := 0; y < h; y++ {
		copy(out.pix[3*y*w:3*(y+1)*w], m.pix[3*((top+y)*m.w+left):3*((top+y)*m.w+left+w)])
	}
	return out
}

// planes writes the image as 3 channel planes in [-1, 1] (v/127.5 - 1) into dst at
// (left, top) of a size×size canvas.
func (m *rgbImage) planes(dst []float32, size, left, top int) {
	plane := size * size
	for y := 0; y < m.h; y++ {
		for x := 0; x < m.w; x++ {
			s := 3 * (y*m.w + x)
			d := (top+y)*size + left + x
			for c := range 3 {
				dst[c*plane+d] = float32(float64(m.pix[s+c])/127.5 - 1)
			}
		}
	}
}

// resizeShorter scales so that the shorter side is size (torchvision Resize(size)).
func (m *rgbImage) resizeShorter(size int) *rgbImage {
	if m.w <= m.h {
		return m.resize(size, int(float64(size)*float64(m.h)/float64(m.w)))
	}
	return m.resize(int(float64(size)*float64(m.w)/float64(m.h)), size)
}
