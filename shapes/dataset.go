package shapes

import (
	"fmt"
	"image"
	"runtime"
	"sync"
)

// Sample is one image of a set with its caption and the scene it was drawn from.
type Sample struct {
	Name    string // file stem, e.g. "000042"
	Image   *image.RGBA
	Caption string
	Scene   Scene
}

// Stream seeds: each set draws item i from NewRand(Derive(seed, i)), so item i is the
// same whatever the set's length.
const (
	conceptSeedBase = 0xc0ffee00
	regSeedBase     = 0x5eed0000
)

// Dataset returns the first n items of the base dataset with the given seed: one to three
// objects per image (plain, or a third of them textured, never as a concept) with
// captions, rendered at size×size. Items are rendered in
// parallel; the result does not depend on the number of CPUs.
func Dataset(seed uint64, n, size int) ([]Sample, error) {
	return build(n, size, func(i int) (Scene, string) {
		r := NewRand(Derive(seed, i))
		s := BaseScene(r)
		return s, Caption(s, r)
	})
}

// RegSet returns n regularisation images of a bare class: one plain object of a random
// colour, captioned like the base data ("a photo of a red star"). Each class has its
// own fixed stream, offset by seed.
func RegSet(class Class, n int, seed uint64, size int) ([]Sample, error) {
	if class < 0 || int(class) >= NumClasses {
		return nil, fmt.Errorf("shapes: regularisation set for class %d, want 0..%d", class, NumClasses-1)
	}
	base := seed + regSeedBase + uint64(class)
	return build(n, size, func(i int) (Scene, string) {
		r := NewRand(Derive(base, i))
		s := SingleScene(r, class, Plain)
		return s, Caption(s, r)
	})
}

// build makes n samples by rendering gen(i) on all CPUs.
func build(n, size int, gen func(i int) (Scene, string)) ([]Sample, error) {
	if n < 0 {
		return nil, fmt.Errorf("shapes: %d samples requested", n)
	}
	if err := CheckSize(size); err != nil {
		return nil, err
	}
	out := make([]Sample, n)
	var wg sync.WaitGroup
	next := make(chan int)
	for w := 0; w < runtime.GOMAXPROCS(0); w++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := range next {
				s, c := gen(i)
				out[i] = Sample{Name: fmt.Sprintf("%06d", i), Image: MustRender(s, size), Caption: c, Scene: s}
			}
		}()
	}
	for i := 0; i < n; i++ {
		next <- i
	}
	close(next)
	wg.Wait()
	return out, nil
}
