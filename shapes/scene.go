package shapes

import (
	"fmt"
	"image/color"
)

// SceneUnits is the side of a scene in scene units; positions and sizes are integers on
// this grid whatever the output resolution.
const SceneUnits = 1024

// Object is one shape in a scene.
type Object struct {
	Class   Class
	Color   int     // index in Colors; ignored by the renderer when Texture is not Plain
	Texture Texture // Plain for base data
	X, Y    int     // centre, in scene units
	R       int     // half-size of the object's box, in scene units
}

// ColorName returns the caption word of the object's colour.
func (o Object) ColorName() string { return Colors[o.Color].Name }

// Gradient is a background's direction.
type Gradient int

// Background layouts.
const (
	Flat Gradient = iota
	Vertical
	Horizontal
	Diagonal
)

// Background is a plain colour (Flat) or a linear gradient from From to To.
type Background struct {
	Kind     Gradient
	From, To color.RGBA
}

// Scene is everything the renderer needs: the objects are drawn in order, later ones on
// top.
type Scene struct {
	Background Background
	Objects    []Object
}

// Validate checks the scene's values so a hand-written scene cannot crash the renderer.
func (s Scene) Validate() error {
	if s.Background.Kind < Flat || s.Background.Kind > Diagonal {
		return fmt.Errorf("shapes: scene background kind %d, want 0..3", s.Background.Kind)
	}
	for i, o := range s.Objects {
		switch {
		case o.Class < 0 || int(o.Class) >= NumClasses:
			return fmt.Errorf("shapes: object %d: class %d, want 0..%d", i, o.Class, NumClasses-1)
		case o.Texture < 0 || int(o.Texture) >= NumTextures:
			return fmt.Errorf("shapes: object %d: texture %d, want 0..%d", i, o.Texture, NumTextures-1)
		case o.Color < 0 || o.Color >= len(Colors):
			return fmt.Errorf("shapes: object %d: colour %d, want 0..%d", i, o.Color, len(Colors)-1)
		case o.R <= 0 || o.R > SceneUnits:
			return fmt.Errorf("shapes: object %d: size R=%d, want 1..%d", i, o.R, SceneUnits)
		case o.X < -SceneUnits || o.X > 2*SceneUnits || o.Y < -SceneUnits || o.Y > 2*SceneUnits:
			return fmt.Errorf("shapes: object %d: centre (%d, %d) is far outside the scene", i, o.X, o.Y)
		}
	}
	return nil
}
