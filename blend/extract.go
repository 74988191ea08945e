package blend

import "fmt"

// Projection is one attn2 module's fine-tuned to_k and to_v weights, [C, D] row-major
// (torch Linear layout: out × in).
type Projection struct {
	Channels int
	K, V     []float32
}

// ExtractEntry computes a concept entry the way the reference's concept-bank extraction
// does (spec §2): the concept prompt ("photo of <new1> dog") is encoded with the
// learned modifier rows, and for every attn2 module the rows [slot.Start, slot.End) of
// its embeddings [L, dim] are projected by that module's fine-tuned to_k / to_v. The
// slot is found in the plain prompt ("photo of a dog"); the modifier takes the
// article's place. meta supplies the entry's metadata (ClassNoun, ModifierToken,
// BaseModel, Recipe, Created); its layers are ignored.
func ExtractEntry(embeds []float32, dim int, slot Slot, proj map[string]Projection, meta Entry) (*Entry, error) {
	if dim < 1 || len(embeds)%dim != 0 {
		return nil, fmt.Errorf("blend: extract: %d embedding values are not rows of %d", len(embeds), dim)
	}
	l := len(embeds) / dim
	if slot.Start < 0 || slot.End > l || slot.Len() < 1 {
		return nil, fmt.Errorf("blend: extract: slot [%d, %d) is outside the %d tokens", slot.Start, slot.End, l)
	}
	e := meta
	e.NTok = slot.Len()
	e.Layers = make(map[string]LayerKV, len(proj))
	rows := embeds[slot.Start*dim : slot.End*dim]
	for m, p := range proj {
		if p.Channels < 1 || len(p.K) != p.Channels*dim || len(p.V) != p.Channels*dim {
			return nil, fmt.Errorf("blend: extract: %s: to_k has %d and to_v %d values, want %d×%d", m, len(p.K), len(p.V), p.Channels, dim)
		}
		e.Layers[m] = LayerKV{Channels: p.Channels, K: project(rows, p.K, dim, p.Channels), V: project(rows, p.V, dim, p.Channels)}
	}
	if err := e.checkShape(); err != nil {
		return nil, fmt.Errorf("blend: extract: %w", err)
	}
	return &e, nil
}

// project computes rows [n, dim] · wᵀ with w [c, dim], accumulating in float64.
func project(rows, w []float32, dim, c int) []float32 {
	n := len(rows) / dim
	out := make([]float32, n*c)
	for i := 0; i < n; i++ {
		x := rows[i*dim : (i+1)*dim]
		for o := 0; o < c; o++ {
			wr := w[o*dim : (o+1)*dim]
			var s float64
			for j, v := range x {
				s += float64(v) * float64(wr[j])
			}
			out[i*c+o] = float32(s)
		}
	}
	return out
}
