package shapes

import "fmt"

// Class is a shape class; its String is the caption noun.
type Class int

// The shape classes of the world.
const (
	Circle Class = iota
	Square
	Triangle
	Star
	Ring
	Cross
	NumClasses int = iota
)

var classNames = [NumClasses]string{"circle", "square", "triangle", "star", "ring", "cross"}

// String returns the class noun used in captions.
func (c Class) String() string {
	if c < 0 || int(c) >= NumClasses {
		return fmt.Sprintf("Class(%d)", int(c))
	}
	return classNames[c]
}

// Classes returns every class in order.
func Classes() []Class {
	out := make([]Class, NumClasses)
	for i := range out {
		out[i] = Class(i)
	}
	return out
}

// ParseClass returns the class named by a caption noun.
func ParseClass(name string) (Class, error) {
	for i, n := range classNames {
		if n == name {
			return Class(i), nil
		}
	}
	return 0, fmt.Errorf("shapes: unknown class %q (have %v)", name, classNames)
}
