package shapes

// Rand is a small deterministic PRNG (SplitMix64). It is the only randomness in the
// package, so a seed fixes every scene, caption and image on every platform.
type Rand struct{ state uint64 }

// NewRand returns a generator seeded with seed.
func NewRand(seed uint64) *Rand { return &Rand{state: seed} }

// splitmix64 is Steele, Lea and Flood's mixing function; it turns consecutive counters
// into independent-looking 64-bit values.
func splitmix64(x uint64) uint64 {
	x += 0x9e3779b97f4a7c15
	x = (x ^ (x >> 30)) * 0xbf58476d1ce4e5b9
	x = (x ^ (x >> 27)) * 0x94d049bb133111eb
	return x ^ (x >> 31)
}

// Uint64 returns the next 64 random bits.
func (r *Rand) Uint64() uint64 {
	r.state += 0x9e3779b97f4a7c15
	x := r.state
	x = (x ^ (x >> 30)) * 0xbf58476d1ce4e5b9
	x = (x ^ (x >> 27)) * 0x94d049bb133111eb
	return x ^ (x >> 31)
}

// Intn returns a uniform integer in [0, n); n must be positive. The modulo bias is
// below 2^-40 for the small n used here, and, unlike rejection, keeps one draw per call.
func (r *Rand) Intn(n int) int {
	if n <= 0 {
		panic("shapes: Rand.Intn with n <= 0")
	}
	return int(r.Uint64() % uint64(n))
}

// Range returns a uniform integer in [lo, hi].
func (r *Rand) Range(lo, hi int) int { return lo + r.Intn(hi-lo+1) }

// Chance reports true with probability num/den.
func (r *Rand) Chance(num, den int) bool { return r.Intn(den) < num }

// Float32 returns a uniform float32 in [0, 1) from 24 random bits (exactly representable,
// so it is the same on every machine).
func (r *Rand) Float32() float32 { return float32(r.Uint64()>>40) / (1 << 24) }

// Derive returns a seed for item i of a stream seeded with seed, so item i does not
// depend on how many items come before it.
func Derive(seed uint64, i int) uint64 {
	return splitmix64(seed ^ splitmix64(uint64(i)+0x5bd1e995))
}
