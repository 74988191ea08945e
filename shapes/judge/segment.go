package judge

import (
	"image"
	"image/color"
	"math"
	"sort"
)

// Segmentation splits an image into objects without any learning, using what every
// shapes-world image has: a background that is flat or a linear gradient, and objects
// that stand out from it and do not touch each other. The learned part of the judge
// then only has to name one centred object at a time.

// Segmentation parameters, in RGB units and pixels (at InputSize).
const (
	// fgDistance is the colour distance from the background model above which a pixel
	// belongs to an object. Plain colours are ≥ 95 away and every texture colour ≥ 60
	// away from every background, so 40 keeps whole objects and drops mild noise.
	fgDistance = 40
	// minBlob is the smallest object kept, in pixels: the smallest rendered objects
	// cover 120+ pixels; specks of generation noise are smaller.
	minBlob = 24
)

// background is a per-channel plane v = a + b·x + c·y fitted to the image border.
type background struct{ coef [3][3]float64 }

func (bg background) at(x, y int) [3]float64 {
	var v [3]float64
	for ch := range v {
		c := bg.coef[ch]
		v[ch] = c[0] + c[1]*float64(x) + c[2]*float64(y)
	}
	return v
}

// fitBackground fits the plane to the outermost ring of pixels by least squares, twice:
// the second fit leaves out border pixels far from the first (an object grazing the
// edge, noise).
func fitBackground(img *image.RGBA) background {
	b := img.Bounds()
	var pts [][2]int
	for x := b.Min.X; x < b.Max.X; x++ {
		pts = append(pts, [2]int{x, b.Min.Y}, [2]int{x, b.Max.Y - 1})
	}
	for y := b.Min.Y + 1; y < b.Max.Y-1; y++ {
		pts = append(pts, [2]int{b.Min.X, y}, [2]int{b.Max.X - 1, y})
	}
	bg := fitPlane(img, pts)
	var kept [][2]int
	for _, p := range pts {
		if distTo(img.RGBAAt(p[0], p[1]), bg.at(p[0], p[1])) < 30 {
			kept = append(kept, p)
		}
	}
	if len(kept) >= len(pts)/2 {
		bg = fitPlane(img, kept)
	}
	return bg
}

// fitPlane solves the 3×3 normal equations of the least-squares plane per channel.
func fitPlane(img *image.RGBA, pts [][2]int) background {
	var ata [3][3]float64
	var atb [3][3]float64 // [channel][row]
	for _, p := range pts {
		row := [3]float64{1, float64(p[0]), float64(p[1])}
		c := img.RGBAAt(p[0], p[1])
		v := [3]float64{float64(c.R), float64(c.G), float64(c.B)}
		for i := 0; i < 3; i++ {
			for j := 0; j < 3; j++ {
				ata[i][j] += row[i] * row[j]
			}
			for ch := 0; ch < 3; ch++ {
				atb[ch][i] += row[i] * v[ch]
			}
		}
	}
	var bg background
	for ch := 0; ch < 3; ch++ {
		bg.coef[ch] = solve3(ata, atb[ch])
	}
	return bg
}

// solve3 solves a 3×3 system by Gaussian elimination with partial pivoting; a singular
// system (too few points) gives the mean colour as a flat plane.
func solve3(a [3][3]float64, b [3]float64) [3]float64 {
	for col := 0; col < 3; col++ {
		piv := col
		for r := col + 1; r < 3; r++ {
			if math.Abs(a[r][col]) > math.Abs(a[piv][col]) {
				piv = r
			}
		}
		if math.Abs(a[piv][col]) < 1e-9 {
			if a[0][0] > 0 {
				return [3]float64{b[0] / a[0][0], 0, 0}
			}
			return [3]float64{}
		}
		a[col], a[piv] = a[piv], a[col]
		b[col], b[piv] = b[piv], b[col]
		for r := col + 1; r < 3; r++ {
			f := a[r][col] / a[col][col]
			for k := col; k < 3; k++ {
				a[r][k] -= f * a[col][k]
			}
			b[r] -= f * b[col]
		}
	}
	var x [3]float64
	for r := 2; r >= 0; r-- {
		s := b[r]
		for k := r + 1; k < 3; k++ {
			s -= a[r][k] * x[k]
		}
		x[r] = s / a[r][r]
	}
	return x
}

func distTo(c color.RGBA, v [3]float64) float64 {
	dr, dg, db := float64(c.R)-v[0], float64(c.G)-v[1], float64(c.B)-v[2]
	return math.Sqrt(dr*dr + dg*dg + db*db)
}

// blob is one connected foreground region.
type blob struct {
	pixels                 []int // indices y·w + x
	minX, minY, maxX, maxY int
	cx, cy                 float64 // centroid
}

// segment returns the image's objects: 8-connected regions of pixels far from the
// fitted background, largest first, ignoring specks smaller than minBlob.
func segment(img *image.RGBA) []blob {
	b := img.Bounds()
	w, h := b.Dx(), b.Dy()
	bg := fitBackground(img)
	fg := make([]bool, w*h)
	for y := 0; y < h; y++ {
		for x := 0; x < w; x++ {
			fg[y*w+x] = distTo(img.RGBAAt(b.Min.X+x, b.Min.Y+y), bg.at(b.Min.X+x, b.Min.Y+y)) > fgDistance
		}
	}
	seen := make([]bool, w*h)
	var blobs []blob
	stack := make([]int, 0, 256)
	for start := range fg {
		if !fg[start] || seen[start] {
			continue
		}
		bl := blob{minX: w, minY: h, maxX: -1, maxY: -1}
		seen[start] = true
		stack = append(stack[:0], start)
		for len(stack) > 0 {
			p := stack[len(stack)-1]
			stack = stack[:len(stack)-1]
			bl.pixels = append(bl.pixels, p)
			x, y := p%w, p/w
			bl.minX, bl.maxX = min(bl.minX, x), max(bl.maxX, x)
			bl.minY, bl.maxY = min(bl.minY, y), max(bl.maxY, y)
			bl.cx += float64(x)
			bl.cy += float64(y)
			for dy := -1; dy <= 1; dy++ {
				for dx := -1; dx <= 1; dx++ {
					nx, ny := x+dx, y+dy
					if nx < 0 || ny < 0 || nx >= w || ny >= h {
						continue
					}
					if q := ny*w + nx; fg[q] && !seen[q] {
						seen[q] = true
						stack = append(stack, q)
					}
				}
			}
		}
		if len(bl.pixels) < minBlob {
			continue
		}
		bl.cx /= float64(len(bl.pixels))
		bl.cy /= float64(len(bl.pixels))
		blobs = append(blobs, bl)
	}
	sort.SliceStable(blobs, func(i, j int) bool { return len(blobs[i].pixels) > len(blobs[j].pixels) })
	return blobs
}
