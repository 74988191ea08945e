package shapes

import (
	"fmt"
	"image/color"
)

// Color is a named plain colour an object can have; the name is the caption word.
type Color struct {
	Name string
	RGB  color.RGBA
}

// Colors are the plain object colours, saturated and far from every background so a
// shape's silhouette is always clear.
var Colors = []Color{
	{"red", color.RGBA{220, 35, 35, 255}},
	{"orange", color.RGBA{245, 135, 20, 255}},
	{"yellow", color.RGBA{245, 215, 30, 255}},
	{"green", color.RGBA{30, 165, 60, 255}},
	{"blue", color.RGBA{35, 75, 225, 255}},
	{"purple", color.RGBA{140, 50, 190, 255}},
}

// ColorIndex returns the index in Colors of a colour name.
func ColorIndex(name string) (int, error) {
	for i, c := range Colors {
		if c.Name == name {
			return i, nil
		}
	}
	return 0, fmt.Errorf("shapes: unknown colour %q (have %v)", name, ColorNames())
}

// ColorNames lists the colour words in Colors order.
func ColorNames() []string {
	out := make([]string, len(Colors))
	for i, c := range Colors {
		out[i] = c.Name
	}
	return out
}

// backgroundColors are muted tones for plain and gradient backgrounds.
var backgroundColors = []color.RGBA{
	{205, 205, 200, 255}, // light grey
	{228, 214, 184, 255}, // beige
	{172, 200, 230, 255}, // pale blue
	{192, 222, 196, 255}, // mint
	{58, 58, 64, 255},    // charcoal
	{36, 42, 78, 255},    // navy
	{208, 192, 222, 255}, // lilac
}

// minContrast2 is the smallest squared RGB distance allowed between a plain object and
// either end of its background.
const minContrast2 = 95 * 95

func dist2(a, b color.RGBA) int {
	dr, dg, db := int(a.R)-int(b.R), int(a.G)-int(b.G), int(a.B)-int(b.B)
	return dr*dr + dg*dg + db*db
}
