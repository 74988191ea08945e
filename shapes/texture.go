package shapes

import (
	"fmt"
	"image/color"
)

// Texture is a surface pattern. A third of the base data's objects wear one, never on
// the class of the concept that has it (IsConcept); concept sets show those pairs.
type Texture int

// The textures of the world. Each is a high-contrast pattern whose period is a fixed
// fraction of the object's size, so it reads the same at every scale and stays several
// pixels wide on a 64×64 image.
const (
	Plain Texture = iota
	Checker
	Rainbow
	Dots
	Stripes
	NumTextures int = iota
)

var textureNames = [NumTextures]string{"plain", "checker", "rainbow", "dots", "stripes"}

// String returns the texture's name.
func (t Texture) String() string {
	if t < 0 || int(t) >= NumTextures {
		return fmt.Sprintf("Texture(%d)", int(t))
	}
	return textureNames[t]
}

// PatternTextures returns the non-plain textures in order.
func PatternTextures() []Texture {
	out := make([]Texture, 0, NumTextures-1)
	for t := Checker; int(t) < NumTextures; t++ {
		out = append(out, t)
	}
	return out
}

// ParseTexture returns the texture with the given name.
func ParseTexture(name string) (Texture, error) {
	for i, n := range textureNames {
		if n == name {
			return Texture(i), nil
		}
	}
	return 0, fmt.Errorf("shapes: unknown texture %q (have %v)", name, textureNames)
}

var (
	// Black and yellow: an anti-aliased pixel half of each is a dark olive that no
	// background gradient passes through (black and white would mix to a grey that the
	// grey gradients share, which splits the object when it is segmented).
	checkerDark  = color.RGBA{20, 20, 24, 255}
	checkerLight = color.RGBA{250, 215, 30, 255}
	rainbowBands = []color.RGBA{
		{230, 30, 40, 255}, {250, 140, 20, 255}, {250, 230, 30, 255},
		{40, 180, 60, 255}, {30, 100, 230, 255}, {130, 40, 200, 255},
	}
	dotsBase    = color.RGBA{225, 40, 165, 255}
	dotsSpot    = color.RGBA{250, 250, 250, 255}
	stripesDark = color.RGBA{0, 140, 135, 255}
	stripesPale = color.RGBA{235, 250, 245, 255}
)

// floorDiv divides rounding toward negative infinity, so patterns do not double a cell
// at the object's centre line.
func floorDiv(a, b int) int {
	q := a / b
	if (a%b != 0) && ((a < 0) != (b < 0)) {
		q--
	}
	return q
}

// floorMod is a - b·floorDiv(a, b), always in [0, b) for b > 0.
func floorMod(a, b int) int { return a - b*floorDiv(a, b) }

// textureColor is the colour of a textured object at offset (dx, dy) from its centre,
// for an object of size r (scene units); plain objects use base.
func textureColor(t Texture, base color.RGBA, dx, dy, r int) color.RGBA {
	switch t {
	case Checker:
		// Five cells across the object's width.
		cell := max(2*r/5, 1)
		if (floorDiv(dx, cell)+floorDiv(dy, cell))&1 == 0 {
			return checkerDark
		}
		return checkerLight
	case Rainbow:
		// Six vertical bands across the width, red on the left.
		band := (dx + r) * len(rainbowBands) / (2*r + 1)
		band = min(max(band, 0), len(rainbowBands)-1)
		return rainbowBands[band]
	case Dots:
		// A 3×3 grid of round spots centred on the object, clear of a square's edges.
		cell := max(r*55/100, 1)
		u := floorMod(dx+cell/2, cell) - cell/2
		v := floorMod(dy+cell/2, cell) - cell/2
		rad := cell * 36 / 100
		if u*u+v*v <= rad*rad {
			return dotsSpot
		}
		return dotsBase
	case Stripes:
		// Diagonal stripes, about three dark ones across the object.
		w := max(r/3, 1)
		if floorDiv(dx+dy, w)&1 == 0 {
			return stripesDark
		}
		return stripesPale
	}
	return base
}
