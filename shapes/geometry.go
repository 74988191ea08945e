package shapes

// Shape membership tests in scene units. (dx, dy) is a point's offset from the object's
// centre (y grows downwards) and r the object's size: every class fits in the square of
// half-side r around its centre and touches it on at least two sides, so r means the
// same visual size for every class.

// starUnit holds the 10 vertices of a five-pointed star on the unit circle scaled by
// 10000, starting at the top point and going clockwise: round(10000·(cos, sin)) of
// -90°, -54°, …, 234°. Inner vertices (odd indices) are scaled by starInner/100 at use.
var starUnit = [10][2]int{
	{0, -10000}, {5878, -8090}, {9511, -3090}, {9511, 3090}, {5878, 8090},
	{0, 10000}, {-5878, 8090}, {-9511, 3090}, {-9511, -3090}, {-5878, -8090},
}

// starInner is the inner radius in percent of the outer one; fatter than the classic
// 38% so the arms hold a texture.
const starInner = 48

// ringInner is the ring's hole radius in percent of its outer radius.
const ringInner = 55

// crossArm is the half-width of a cross's arms in percent of r.
const crossArm = 36

// inside reports whether (dx, dy) lies in the shape of class c with size r.
func inside(c Class, dx, dy, r int) bool {
	switch c {
	case Circle:
		return dx*dx+dy*dy <= r*r
	case Ring:
		d2 := dx*dx + dy*dy
		ri := r * ringInner / 100
		return d2 <= r*r && d2 >= ri*ri
	case Square:
		h := r * 85 / 100
		return abs(dx) <= h && abs(dy) <= h
	case Cross:
		w := r * crossArm / 100
		return (abs(dx) <= r && abs(dy) <= w) || (abs(dy) <= r && abs(dx) <= w)
	case Triangle:
		// Apex at the top centre, base at the bottom: the point must be on the inner side
		// of the three edges (apex→right, right→left, left→apex, clockwise on screen).
		ax, ay := 0, -r
		bx, by := r, r*80/100
		cx, cy := -r, r*80/100
		return cross(ax, ay, bx, by, dx, dy) >= 0 && cross(bx, by, cx, cy, dx, dy) >= 0 &&
			cross(cx, cy, ax, ay, dx, dy) >= 0
	case Star:
		return inStar(dx, dy-r*10/100, r)
	}
	return false
}

// cross is the z component of (b-a)×(p-a); positive when p is on the right of a→b in
// screen coordinates (clockwise).
func cross(ax, ay, bx, by, px, py int) int {
	return (bx-ax)*(py-ay) - (by-ay)*(px-ax)
}

// inStar is the even-odd crossing test against the star polygon of outer radius r. The
// caller moves the star down by 0.1·r so it sits centred in its box: around its own
// centre it spans y from -r (top point) to 0.81·r (lowest points).
func inStar(px, py, r int) bool {
	var vx, vy [10]int
	for i, v := range starUnit {
		rad := r
		if i%2 == 1 {
			rad = r * starInner / 100
		}
		vx[i], vy[i] = v[0]*rad/10000, v[1]*rad/10000
	}
	in := false
	for i, j := 0, 9; i < 10; j, i = i, i+1 {
		if (vy[i] > py) == (vy[j] > py) {
			continue
		}
		// The edge crosses the horizontal line y = py; is the crossing right of px?
		// x = vx[i] + (py-vy[i])·(vx[j]-vx[i])/(vy[j]-vy[i]), compared without division.
		num := (py - vy[i]) * (vx[j] - vx[i])
		den := vy[j] - vy[i]
		lhs := (px - vx[i]) * den
		if den > 0 {
			if lhs < num {
				in = !in
			}
		} else if lhs > num {
			in = !in
		}
	}
	return in
}

func abs(x int) int {
	if x < 0 {
		return -x
	}
	return x
}
