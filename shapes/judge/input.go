package judge

import (
	"image"
	"image/color"

	"github.com/latexblend/latexblend/shapes"
)

// CropSize is the side of the per-object crops the network classifies.
const CropSize = 32

// cropPlane is the number of values of one crop: RGB plus the object's mask.
const cropPlane = 4 * CropSize * CropSize

// toInput returns img as an InputSize×InputSize RGBA image, resampling other sizes by
// area averaging (downscaling) or nearest neighbour (upscaling), so the judge accepts
// 32×32 or 128×128 generations.
func toInput(img image.Image) *image.RGBA {
	if rgba, ok := img.(*image.RGBA); ok && rgba.Bounds() == image.Rect(0, 0, InputSize, InputSize) {
		return rgba
	}
	b := img.Bounds()
	w, h := b.Dx(), b.Dy()
	const n = InputSize
	out := image.NewRGBA(image.Rect(0, 0, n, n))
	for y := 0; y < n; y++ {
		y0, y1 := y*h/n, max((y+1)*h/n, y*h/n+1)
		for x := 0; x < n; x++ {
			x0, x1 := x*w/n, max((x+1)*w/n, x*w/n+1)
			var sr, sg, sb, cnt int
			for yy := y0; yy < y1; yy++ {
				for xx := x0; xx < x1; xx++ {
					c := color.RGBAModel.Convert(img.At(b.Min.X+xx, b.Min.Y+yy)).(color.RGBA)
					sr += int(c.R)
					sg += int(c.G)
					sb += int(c.B)
					cnt++
				}
			}
			out.SetRGBA(x, y, color.RGBA{uint8(sr / cnt), uint8(sg / cnt), uint8(sb / cnt), 255})
		}
	}
	return out
}

// cropInto writes the crop of one blob into dst [4, CropSize, CropSize]: a square around
// the blob's box (2 px margin) scaled to CropSize by nearest neighbour, RGB in [-1, 1] on
// the blob's pixels and 0 elsewhere (neighbouring objects are masked out), and the mask
// itself as the fourth channel. Every object thus arrives centred and at one scale.
func cropInto(dst []float32, img *image.RGBA, owner []int, id int, bl blob) {
	w := img.Bounds().Dx()
	side := max(bl.maxX-bl.minX, bl.maxY-bl.minY) + 1 + 4
	x0 := (bl.minX+bl.maxX+1)/2 - side/2
	y0 := (bl.minY+bl.maxY+1)/2 - side/2
	const plane = CropSize * CropSize
	for v := 0; v < CropSize; v++ {
		sy := y0 + (2*v+1)*side/(2*CropSize)
		for u := 0; u < CropSize; u++ {
			sx := x0 + (2*u+1)*side/(2*CropSize)
			i := v*CropSize + u
			if sx < 0 || sy < 0 || sx >= w || sy >= img.Bounds().Dy() || owner[sy*w+sx] != id {
				dst[i], dst[plane+i], dst[2*plane+i], dst[3*plane+i] = 0, 0, 0, 0
				continue
			}
			c := img.RGBAAt(sx, sy)
			dst[i] = float32(c.R)/127.5 - 1
			dst[plane+i] = float32(c.G)/127.5 - 1
			dst[2*plane+i] = float32(c.B)/127.5 - 1
			dst[3*plane+i] = 1
		}
	}
}

// owners maps every pixel to the index of the blob holding it, or -1.
func owners(blobs []blob, n int) []int {
	own := make([]int, n)
	for i := range own {
		own[i] = -1
	}
	for id, bl := range blobs {
		for _, p := range bl.pixels {
			own[p] = id
		}
	}
	return own
}

// augment returns a perturbed copy of a render, the way generated images differ from
// renders: a horizontal flip when flip is set (labels are flip-invariant), sometimes a slight blur, a
// colour and contrast shift and pixel noise.
func augment(img *image.RGBA, r *shapes.Rand, flip bool) *image.RGBA {
	b := img.Bounds()
	w, h := b.Dx(), b.Dy()
	out := image.NewRGBA(image.Rect(0, 0, w, h))
	for y := 0; y < h; y++ {
		for x := 0; x < w; x++ {
			sx := x
			if flip {
				sx = w - 1 - x
			}
			out.SetRGBA(x, y, img.RGBAAt(b.Min.X+sx, b.Min.Y+y))
		}
	}
	if r.Chance(1, 3) {
		blur(out)
	}
	contrast := 0.9 + 0.2*r.Float32()
	var shift [3]float32
	for c := range shift {
		shift[c] = 16*r.Float32() - 8
	}
	for i := 0; i < len(out.Pix); i += 4 {
		for c := 0; c < 3; c++ {
			v := (float32(out.Pix[i+c])-128)*contrast + 128 + shift[c] + 8*(r.Float32()-0.5)
			out.Pix[i+c] = uint8(min(max(v+0.5, 0), 255))
		}
	}
	return out
}

// blur applies a [1 2 1]⊗[1 2 1]/16 filter with clamped borders.
func blur(img *image.RGBA) {
	w, h := img.Bounds().Dx(), img.Bounds().Dy()
	src := append([]uint8(nil), img.Pix...)
	at := func(x, y, c int) int {
		x, y = min(max(x, 0), w-1), min(max(y, 0), h-1)
		return int(src[y*img.Stride+x*4+c])
	}
	for y := 0; y < h; y++ {
		for x := 0; x < w; x++ {
			for c := 0; c < 3; c++ {
				s := 0
				for dy := -1; dy <= 1; dy++ {
					for dx := -1; dx <= 1; dx++ {
						s += at(x+dx, y+dy, c) * (2 - abs(dx)) * (2 - abs(dy))
					}
				}
				img.Pix[y*img.Stride+x*4+c] = uint8((s + 8) / 16)
			}
		}
	}
}

func abs(x int) int {
	if x < 0 {
		return -x
	}
	return x
}
