package unet

// Module describes one attention module for a given latent size, so callers can size
// per-module hook inputs (score biases, masks) before a call.
type Module struct {
	Path            string // e.g. "mid_block.attentions.0.transformer_blocks.0.attn2"
	Cross           bool   // attn2
	Heads, Channels int
	Height, Width   int // query grid: Lq = Height·Width
}

// AttentionModules lists every attention module (attn1 and attn2 of each transformer
// block, in graph order) for a latent of height×width.
func (m *Model) AttentionModules(height, width int) []Module {
	var out []Module
	visit := func(blk *block, level int) {
		h, w := height>>level, width>>level
		for _, t := range blk.attns {
			for _, bb := range t.blocks {
				for _, a := range []*attention{bb.attn1, bb.attn2} {
					out = append(out, Module{Path: a.name, Cross: a.cross, Heads: a.heads, Channels: a.channels, Height: h, Width: w})
				}
			}
		}
	}
	n := len(m.net.down)
	for i, blk := range m.net.down {
		visit(blk, i)
	}
	if m.net.mid != nil {
		visit(m.net.mid, n-1)
	}
	for i, blk := range m.net.up {
		visit(blk, n-1-i)
	}
	return out
}
