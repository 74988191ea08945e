package shapes

import (
	"sort"
	"strings"
)

// Modifier is the concept token that concept-set captions put before the class noun, as
// in "photo of a <new1> star"; the trainer registers it with the tokenizer.
const Modifier = "<new1>"

// textureAdjective is the caption word for a texture (plain objects are named by colour).
var textureAdjective = [NumTextures]string{"", "checkered", "rainbow", "dotted", "striped"}

// TextureAdjective is the caption word for a texture ("checkered"); "" for Plain.
func TextureAdjective(t Texture) string {
	if t < 0 || int(t) >= NumTextures {
		return ""
	}
	return textureAdjective[t]
}

// captionPrefixes are the optional openings of a caption.
var captionPrefixes = []string{"", "a photo of ", "a picture of "}

// Describe returns "a red circle" for a plain object and "a checkered star" for a
// textured one.
func Describe(o Object) string {
	adj := o.ColorName()
	if o.Texture != Plain {
		adj = textureAdjective[o.Texture]
	}
	return article(adj) + " " + adj + " " + o.Class.String()
}

// Plain objects are named without their colour ("a star") with probability
// bareNum/bareDen, so a bare class noun, as in the evaluation's and LatexBlend's prompts,
// means a plain object of any colour. Textured objects are always named by their texture.
const (
	bareNum = 1
	bareDen = 4
)

// describeFor is Describe, or the bare "a star" for a plain object when r says so.
func describeFor(o Object, r *Rand) string {
	if o.Texture == Plain && r.Chance(bareNum, bareDen) {
		return article(o.Class.String()) + " " + o.Class.String()
	}
	return Describe(o)
}

// article is "an" before a vowel, as in "an orange star".
func article(word string) string {
	if word != "" && strings.ContainsRune("aeiou", rune(word[0])) {
		return "an"
	}
	return "a"
}

// leftToRight returns the scene's objects sorted by centre x (then y), the order
// captions list them in.
func leftToRight(objs []Object) []Object {
	out := append([]Object(nil), objs...)
	sort.SliceStable(out, func(i, j int) bool {
		if out[i].X != out[j].X {
			return out[i].X < out[j].X
		}
		return out[i].Y < out[j].Y
	})
	return out
}

// Caption writes a CLIP-style caption for the scene, drawing its wording from r:
// "a red circle", "a photo of a blue square and a yellow star",
// "a star on the left of a ring", "a red circle, a blue square and a yellow star".
// Objects are named left to right; a spatial relation is used only when it is clear
// (one object at least twice as far along one axis as along the other and fully apart).
func Caption(s Scene, r *Rand) string {
	prefix := captionPrefixes[r.Intn(len(captionPrefixes))]
	objs := leftToRight(s.Objects)
	var body string
	switch len(objs) {
	case 0:
		body = "an empty background"
	case 1:
		body = describeFor(objs[0], r)
	case 2:
		body = pairCaption(objs[0], objs[1], r)
	default:
		parts := make([]string, len(objs))
		for i, o := range objs {
			parts[i] = describeFor(o, r)
		}
		body = strings.Join(parts[:len(parts)-1], ", ") + " and " + parts[len(parts)-1]
	}
	return prefix + body
}

// pairCaption describes two objects, a left of b.
func pairCaption(a, b Object, r *Rand) string {
	da, db := describeFor(a, r), describeFor(b, r)
	dx, dy := b.X-a.X, b.Y-a.Y
	apart := a.R + b.R
	choice := r.Intn(3)
	switch {
	case dx > 2*abs(dy) && dx >= apart:
		switch choice {
		case 0:
			return da + " on the left of " + db
		case 1:
			return db + " on the right of " + da
		}
	case abs(dy) > 2*dx && abs(dy) >= apart:
		top, bottom := da, db
		if dy < 0 {
			top, bottom = db, da
		}
		switch choice {
		case 0:
			return top + " above " + bottom
		case 1:
			return bottom + " below " + top
		}
	}
	return da + " and " + db
}
