package blend

import (
	"fmt"
	"math"
	"sort"

	"gorgonia.org/tensor"

	"github.com/latexblend/latexblend/model/sdxl"
	"github.com/latexblend/latexblend/model/unet"
)

// Self-attention rectification (spec §5): at the save step the head-averaged attention
// maps of the conditional rows are read; spectral clustering of the self-attention at
// the largest attention grid segments the image; the segments best matching each
// concept's noun maps become layout maps; later steps push each concept's tokens
// toward its own region and away from the others'.

// grid is an attention query grid.
type grid struct{ h, w int }

func (g grid) n() int { return g.h * g.w }

// rectState is what the save step leaves for the later steps: per attention grid, the
// boost and suppress bases 1[M>0]·size_reg of the conditional rows [images, n, 77].
type rectState struct {
	tokens int
	images int
	boost  map[grid][]float32
	sup    map[grid][]float32
	// modules maps each cross-attention module to its grid.
	modules map[string]grid
	// Clusters and TokenMaps are kept for inspection: per image, the segment labels on
	// the top grid and the K+1 layout maps (K concepts, then the background).
	clusters  [][]int
	tokenMaps [][][]float32
	top       grid
}

// saveModules lists the modules whose probabilities the save step reads: every attn2
// and the attn1 modules on the largest grid.
func (b *Blender) saveModules(st *sdxl.Step) []string {
	s := st.Latents.Shape()
	mods := st.UNet.AttentionModules(s[2], s[3])
	top := topGrid(mods)
	var out []string
	for _, m := range mods {
		if m.Cross || (m.Height == top.h && m.Width == top.w) {
			out = append(out, m.Path)
		}
	}
	return out
}

func topGrid(mods []unet.Module) grid {
	var top grid
	for _, m := range mods {
		if m.Height*m.Width > top.n() {
			top = grid{m.Height, m.Width}
		}
	}
	return top
}

// savedMap returns image img's head-averaged map [lq·lk] of a saved module.
func savedMap(t *tensor.Dense, img int) ([]float64, int, int, error) {
	s := t.Shape()
	if len(s) != 3 || img >= s[0] {
		return nil, 0, 0, fmt.Errorf("blend: saved attention %v lacks image %d", s, img)
	}
	per := s[1] * s[2]
	out := make([]float64, per)
	switch d := t.Data().(type) {
	case []float32:
		for i, v := range d[img*per : (img+1)*per] {
			out[i] = float64(v)
		}
	case []float64:
		copy(out, d[img*per:(img+1)*per])
	}
	return out, s[1], s[2], nil
}

// saveAttention turns the save step's attention maps into the rectification state.
func (b *Blender) saveAttention(st *sdxl.Step, out *unet.Output) error {
	s := st.Latents.Shape()
	mods := st.UNet.AttentionModules(s[2], s[3])
	top := topGrid(mods)
	rs := &rectState{images: st.Cond.Images, boost: map[grid][]float32{}, sup: map[grid][]float32{}, modules: map[string]grid{}, top: top}
	for img := range st.Cond.ConditionalRows() {
		var self [][]float64
		var cross []crossMap
		for _, m := range mods {
			t, ok := out.Extra[m.Path+meanProbs]
			if !ok {
				continue
			}
			a, _, lk, err := savedMap(t, img)
			if err != nil {
				return fmt.Errorf("%s: %w", m.Path, err)
			}
			if m.Cross {
				cross = append(cross, crossMap{g: grid{m.Height, m.Width}, a: a})
				rs.tokens = lk
				rs.modules[m.Path] = grid{m.Height, m.Width}
			} else {
				self = append(self, a)
			}
		}
		if len(self) == 0 || len(cross) == 0 {
			return fmt.Errorf("blend: rectification: the save step read %d self- and %d cross-attention maps", len(self), len(cross))
		}
		var clusters []int
		if img < len(b.s.Clusters) && b.s.Clusters[img] != nil {
			clusters = b.s.Clusters[img]
			if len(clusters) != top.n() {
				return fmt.Errorf("blend: rectification: %d given cluster labels for a %d×%d grid", len(clusters), top.h, top.w)
			}
		} else {
			aff := averageMaps(self)
			var err error
			if clusters, err = SpectralSegments(aff, top.n(), b.opts.Segments, b.opts.KMeansInit, b.opts.Seed); err != nil {
				return err
			}
		}
		maps, own, err := layoutMaps(clusters, b.opts.Segments, cross, top, rs.tokens, b.slots)
		if err != nil {
			return err
		}
		rs.clusters = append(rs.clusters, clusters)
		rs.tokenMaps = append(rs.tokenMaps, maps)
		for _, g := range uniqueGrids(rs.modules) {
			bo, su := tokenMasks(maps, own, top, g, rs.tokens, b.slots, b.opts.ReferenceCompat)
			rs.boost[g] = append(rs.boost[g], bo...)
			rs.sup[g] = append(rs.sup[g], su...)
		}
	}
	b.mu.Lock()
	b.rect = rs
	b.mu.Unlock()
	return nil
}

func uniqueGrids(m map[string]grid) []grid {
	seen := map[grid]bool{}
	var out []grid
	for _, g := range m {
		if !seen[g] {
			seen[g] = true
			out = append(out, g)
		}
	}
	sort.Slice(out, func(i, j int) bool { return out[i].n() > out[j].n() })
	return out
}

func averageMaps(ms [][]float64) []float64 {
	out := make([]float64, len(ms[0]))
	for _, m := range ms {
		for i, v := range m {
			out[i] += v
		}
	}
	for i := range out {
		out[i] /= float64(len(ms))
	}
	return out
}

type crossMap struct {
	g grid
	a []float64 // [g.n(), tokens]
}

// layoutMaps is the reference's get_token_maps after the clustering: it returns the
// K+1 layout maps on the top grid (concept c's map is the union of the segments
// matched to the other concepts, the last is the background), each normalised per
// pixel and rounded to float32 as the reference casts them, and each concept's own
// segment (for the fixed masks).
func layoutMaps(clusters []int, nSeg int, cross []crossMap, top grid, tokens int, slots []Slot) ([][]float32, [][]float32, error) {
	n := top.n()
	// Cross-attention maps, resized to the top grid per token and averaged.
	avg := make([]float64, n*tokens)
	plane := make([]float64, 0, n)
	for _, cm := range cross {
		for t := 0; t < tokens; t++ {
			plane = plane[:0]
			for q := 0; q < cm.g.n(); q++ {
				plane = append(plane, cm.a[q*tokens+t])
			}
			r := resizeBicubicAA(plane, cm.g.h, cm.g.w, top.h, top.w)
			for q, v := range r {
				avg[q*tokens+t] += v
			}
		}
	}
	for i := range avg {
		avg[i] /= float64(len(cross))
	}
	// Min-max normalised noun maps per concept.
	norm := make([][][]float64, len(slots))
	for c, s := range slots {
		for _, t := range s.Nouns() {
			m := make([]float64, n)
			lo, hi := math.Inf(1), math.Inf(-1)
			for q := 0; q < n; q++ {
				m[q] = avg[q*tokens+t]
				lo, hi = math.Min(lo, m[q]), math.Max(hi, m[q])
			}
			for q := range m {
				m[q] = (m[q] - math.Abs(lo)) / (hi - lo)
			}
			norm[c] = append(norm[c], m)
		}
	}
	// Score of every (segment, concept): the mean normalised map inside the segment,
	// one value per noun token; pairs are ranked by these lists (Python's list order).
	type pair struct {
		seg, concept int
		scores       []float64
	}
	var pairs []pair
	for sg := 0; sg < nSeg; sg++ {
		var size float64
		for _, l := range clusters {
			if l == sg {
				size++
			}
		}
		for c := range slots {
			sc := make([]float64, len(norm[c]))
			for i, m := range norm[c] {
				var s float64
				for q, l := range clusters {
					if l == sg {
						s += m[q]
					}
				}
				sc[i] = s / size
			}
			pairs = append(pairs, pair{sg, c, sc})
		}
	}
	sort.SliceStable(pairs, func(i, j int) bool { return listGreater(pairs[i].scores, pairs[j].scores) })
	match := map[int]int{} // concept → segment
	usedSeg := map[int]bool{}
	for _, p := range pairs {
		if len(match) == len(slots) {
			break
		}
		if usedSeg[p.seg] {
			continue
		}
		if _, done := match[p.concept]; done {
			continue
		}
		match[p.concept] = p.seg
		usedSeg[p.seg] = true
	}
	if len(match) < len(slots) {
		return nil, nil, fmt.Errorf("blend: rectification: %d segments cannot serve %d concepts", nSeg, len(slots))
	}
	k := len(slots)
	raw := make([][]float64, k+1)
	own := make([][]float32, k)
	for c := range raw {
		raw[c] = make([]float64, n)
	}
	for c := 0; c < k; c++ {
		own[c] = make([]float32, n)
		for q, l := range clusters {
			if l == match[c] {
				own[c][q] = 1
			}
		}
	}
	bg := raw[k]
	for c := 0; c < k; c++ {
		for q, l := range clusters {
			if l != match[c] {
				continue
			}
			for o := 0; o < k; o++ {
				if o != c {
					raw[o][q]++
				}
			}
			bg[q]++
		}
	}
	for q := range bg {
		bg[q] = 1 - bg[q]
	}
	// Resize (identity on the top grid), clamp to [0, 1], normalise per pixel.
	maps := make([][]float32, k+1)
	sum := make([]float64, n)
	for c := range raw {
		raw[c] = resizeBicubicAA(raw[c], top.h, top.w, top.h, top.w)
		for q, v := range raw[c] {
			v = math.Min(math.Max(v, 0), 1)
			raw[c][q] = v
			sum[q] += v
		}
	}
	for c := range raw {
		maps[c] = make([]float32, n)
		for q, v := range raw[c] {
			maps[c][q] = float32(v / (sum[q] + 1e-8))
		}
	}
	return maps, own, nil
}

// listGreater is Python's a > b for lists of floats.
func listGreater(a, b []float64) bool {
	for i := 0; i < len(a) && i < len(b); i++ {
		if a[i] != b[i] {
			return a[i] > b[i]
		}
	}
	return len(a) > len(b)
}

// tokenMasks builds, for one image, the boost and suppress bases 1[M>0]·(1 − ΣM/N)
// [g.n(), tokens] on grid g. In reference-compat mode M_sup[c] = layout[c] and
// M_boost[c] = (1 − background) − layout[c], which with 3+ concepts is positive inside
// other concepts' regions; otherwise M_boost[c] is the concept's own segment and
// M_sup[c] the union of the other concepts' segments.
func tokenMasks(maps, own [][]float32, top, g grid, tokens int, slots []Slot, compat bool) ([]float32, []float32) {
	k := len(slots)
	n := g.n()
	boost := make([]float32, n*tokens)
	sup := make([]float32, n*tokens)
	for c, s := range slots {
		var mb, ms []float32
		if compat {
			mb = make([]float32, top.n())
			for q := range mb {
				mb[q] = (1 - maps[k][q]) - maps[c][q]
			}
			ms = maps[c]
		} else {
			mb = own[c]
			ms = make([]float32, top.n())
			for o := 0; o < k; o++ {
				if o == c {
					continue
				}
				for q, v := range own[o] {
					ms[q] = max(ms[q], v)
				}
			}
		}
		mb = resizeNearest(mb, top.h, top.w, g.h, g.w)
		ms = resizeNearest(ms, top.h, top.w, g.h, g.w)
		ab, as := sizeReg(mb, n), sizeReg(ms, n)
		for _, t := range s.Positions() {
			for q := 0; q < n; q++ {
				if mb[q] > 0 {
					boost[q*tokens+t] = ab
				}
				if ms[q] > 0 {
					sup[q*tokens+t] = as
				}
			}
		}
	}
	return boost, sup
}

// sizeReg is 1 − ΣM/N in float32, the reference's size regularisation.
func sizeReg(m []float32, n int) float32 {
	var s float32
	for _, v := range m {
		s += v
	}
	return 1 - s/float32(n)
}

// coefficients builds this step's rectification inputs: per module [rows, n, tokens]
// with the conditional rows holding ((base·creg)·τ) and τ = (t/1000)^5 in float32.
func (rs *rectState) coefficients(t, creg float64, cond *sdxl.Conditioning) (map[string][2]*tensor.Dense, error) {
	tau := float32(math.Pow(float64(float32(t)/1000), 5))
	cr := float32(creg)
	rows := cond.Rows()
	first := cond.ConditionalRows()[0]
	if len(cond.ConditionalRows()) != rs.images {
		return nil, fmt.Errorf("blend: rectification masks were made for %d images, the step has %d", rs.images, len(cond.ConditionalRows()))
	}
	byGrid := map[grid][2]*tensor.Dense{}
	for g := range rs.boost {
		per := g.n() * rs.tokens
		bo := make([]float32, rows*per)
		su := make([]float32, rows*per)
		for i, v := range rs.boost[g] {
			bo[first*per+i] = v * cr * tau
		}
		for i, v := range rs.sup[g] {
			su[first*per+i] = v * cr * tau
		}
		byGrid[g] = [2]*tensor.Dense{
			tensor.New(tensor.WithShape(rows, g.n(), rs.tokens), tensor.WithBacking(bo)),
			tensor.New(tensor.WithShape(rows, g.n(), rs.tokens), tensor.WithBacking(su)),
		}
	}
	out := make(map[string][2]*tensor.Dense, len(rs.modules))
	for m, g := range rs.modules {
		out[m] = byGrid[g]
	}
	return out, nil
}
