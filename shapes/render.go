package shapes

import (
	"fmt"
	"image"
	"image/color"
)

// DefaultSize is the image side the project uses: the tiny SDXL pipeline's 64×64, which a
// VAE with one downsampling turns into 32×32 latents.
const DefaultSize = 64

// supersample is the number of samples per pixel along each axis (4×4 per pixel).
const supersample = 4

// CheckSize returns an error unless size is a resolution the renderer supports: a power
// of two from 16 to 256, so that every supersample lies on the integer scene grid.
func CheckSize(size int) error {
	for s := 16; s <= SceneUnits/supersample; s *= 2 {
		if s == size {
			return nil
		}
	}
	return fmt.Errorf("shapes: image size %d, want a power of two in 16..%d", size, SceneUnits/supersample)
}

// Render draws the scene at size×size pixels (see CheckSize). Each pixel is the rounded
// mean of 4×4 samples taken at the centres of its sub-cells, so edges are anti-aliased and
// the result is exactly reproducible.
func Render(s Scene, size int) (*image.RGBA, error) {
	if err := CheckSize(size); err != nil {
		return nil, err
	}
	if err := s.Validate(); err != nil {
		return nil, err
	}
	img := image.NewRGBA(image.Rect(0, 0, size, size))
	step := SceneUnits / (size * supersample)
	const n = supersample * supersample
	for py := 0; py < size; py++ {
		for px := 0; px < size; px++ {
			var sr, sg, sb int
			for sy := 0; sy < supersample; sy++ {
				y := (py*supersample+sy)*step + step/2
				for sx := 0; sx < supersample; sx++ {
					x := (px*supersample+sx)*step + step/2
					c := sampleAt(&s, x, y)
					sr += int(c.R)
					sg += int(c.G)
					sb += int(c.B)
				}
			}
			i := img.PixOffset(px, py)
			img.Pix[i+0] = uint8((sr + n/2) / n)
			img.Pix[i+1] = uint8((sg + n/2) / n)
			img.Pix[i+2] = uint8((sb + n/2) / n)
			img.Pix[i+3] = 255
		}
	}
	return img, nil
}

// MustRender is Render for scenes made by this package, which are valid by construction.
func MustRender(s Scene, size int) *image.RGBA {
	img, err := Render(s, size)
	if err != nil {
		panic(err)
	}
	return img
}

// sampleAt is the colour of the scene at scene point (x, y): the topmost object covering
// it, else the background.
func sampleAt(s *Scene, x, y int) color.RGBA {
	for i := len(s.Objects) - 1; i >= 0; i-- {
		o := &s.Objects[i]
		dx, dy := x-o.X, y-o.Y
		if abs(dx) > o.R || abs(dy) > o.R || !inside(o.Class, dx, dy, o.R) {
			continue
		}
		return textureColor(o.Texture, Colors[o.Color].RGB, dx, dy, o.R)
	}
	return backgroundAt(s.Background, x, y)
}

// backgroundAt interpolates the background linearly between From and To.
func backgroundAt(b Background, x, y int) color.RGBA {
	var t, span int // t/span of the way from From to To
	switch b.Kind {
	case Vertical:
		t, span = y, SceneUnits
	case Horizontal:
		t, span = x, SceneUnits
	case Diagonal:
		t, span = x+y, 2*SceneUnits
	default:
		return b.From
	}
	mix := func(a, c uint8) uint8 {
		return uint8((int(a)*(span-t) + int(c)*t + span/2) / span)
	}
	return color.RGBA{mix(b.From.R, b.To.R), mix(b.From.G, b.To.G), mix(b.From.B, b.To.B), 255}
}
