package blend

import (
	"context"
	"fmt"
	"log/slog"
	"slices"
	"strconv"
	"sync"

	"gorgonia.org/tensor"

	"github.com/latexblend/latexblend/model/sdxl"
	"github.com/latexblend/latexblend/model/unet"
)

// Concept is one concept to blend: a class noun of the prompt and its bank entry.
type Concept struct {
	ClassNoun string
	Entry     *Entry
}

// Setup is everything a Blender needs besides the per-step pipeline state.
type Setup struct {
	UNet *unet.Model
	// Tokenizer is SDXL's tokenizer 1 (positions are found with it, as in the reference).
	Tokenizer Tokenizer
	// Identity is the loaded base model's identity; entries made on another refuse.
	Identity string
	Prompt   string
	// Concepts in order (concept1, concept2, …; the order matters in reference-compat
	// mode, where only the last concept's positive guidance term counts).
	Concepts []Concept
	Options  Options
	// Clusters, when set, replaces the spectral clustering with these segment labels
	// (one []int per image, row-major over the largest attention grid): golden tests
	// feed the reference's sklearn result, which no other k-means reproduces bit for bit.
	Clusters [][]int
	Logger   *slog.Logger
}

// Blender runs LatexBlend inside one SDXL generation through the pipeline's hooks.
// Build one per generation: it keeps the rectification masks of that generation.
type Blender struct {
	s     Setup
	opts  Options
	slots []Slot
	kv    map[string][2]*tensor.Dense // module → entry K, V rows of every concept, by slot order
	// places[i] is the place whose rows concept i's entry gives (1 unless it holds
	// per-place rows).
	places []int
	layers []string

	mu sync.Mutex
	// rect holds the masks once the save step ran.
	rect *rectState
	// losses and grads are the guidance losses and d(loss)/d(latents) per guidance
	// step (for reports and tests).
	losses []float64
	grads  [][]float32
	log    *slog.Logger
}

// New finds the concepts' slots in the prompt and checks their entries against the
// model.
func New(s Setup) (*Blender, error) {
	if err := s.Options.Check(); err != nil {
		return nil, err
	}
	if s.UNet == nil || s.Tokenizer == nil {
		return nil, fmt.Errorf("blend: setup needs the UNet and tokenizer 1")
	}
	b := &Blender{s: s, opts: s.Options, log: s.Logger, kv: map[string][2]*tensor.Dense{}}
	if b.log == nil {
		b.log = slog.New(slog.DiscardHandler)
	}
	if len(s.Concepts) == 0 {
		return b, nil
	}
	nouns := make([]string, len(s.Concepts))
	seenEntry := map[*Entry]string{}
	for i, c := range s.Concepts {
		if c.Entry == nil {
			return nil, fmt.Errorf("blend: concept %d (%q) has no entry", i+1, c.ClassNoun)
		}
		if prev, dup := seenEntry[c.Entry]; dup {
			return nil, fmt.Errorf("blend: the same concept entry is given twice (for %q and %q)", prev, c.ClassNoun)
		}
		seenEntry[c.Entry] = c.ClassNoun
		nouns[i] = c.ClassNoun
	}
	slots, err := FindSlots(s.Tokenizer, s.Prompt, nouns)
	if err != nil {
		return nil, err
	}
	b.slots = slots
	spec := ModelSpec{Identity: s.Identity, Channels: map[string]int{}}
	b.layers = s.UNet.CrossAttentionModules()
	for _, m := range s.UNet.AttentionModules(8, 8) {
		if m.Cross {
			spec.Channels[m.Path] = m.Channels
		}
	}
	for i, c := range s.Concepts {
		if err := c.Entry.Check(spec); err != nil {
			return nil, err
		}
		if c.Entry.NTok != slots[i].Len() {
			return nil, fmt.Errorf("blend: entry %q holds %d tokens per layer but its slot in the prompt %q has %d (article + %d noun tokens)",
				c.ClassNoun, c.Entry.NTok, s.Prompt, slots[i].Len(), slots[i].Len()-1)
		}
	}
	// Each concept takes the rows of its place among the prompt's concepts.
	rows := make([]map[string]LayerKV, len(s.Concepts))
	b.places = make([]int, len(s.Concepts))
	for i, c := range s.Concepts {
		place := 1
		if !s.Options.NoPlaces {
			place = ConceptPlace(slots, i)
		}
		rows[i], b.places[i] = c.Entry.LayersAt(place)
	}
	// One [1, n, C] block per module with every concept's rows in slot order (the
	// splice source of processor.replace).
	for _, m := range b.layers {
		c := spec.Channels[m]
		var k, v []float32
		for i := range s.Concepts {
			l := rows[i][m]
			k = append(k, l.K...)
			v = append(v, l.V...)
		}
		n := len(k) / c
		b.kv[m] = [2]*tensor.Dense{
			tensor.New(tensor.WithShape(1, n, c), tensor.WithBacking(k)),
			tensor.New(tensor.WithShape(1, n, c), tensor.WithBacking(v)),
		}
	}
	return b, nil
}

// Places returns, per concept, the place whose entry rows it uses (1 for a plain
// entry; see Entry.LayersAt).
func (b *Blender) Places() []int { return append([]int(nil), b.places...) }

// Rows returns the K and V rows the blend writes into a cross-attention module: every
// concept's, in concept order, each from the place LayersAt chose (nil for a module
// the model lacks). Batching samplers splice them without the blender's hooks.
func (b *Blender) Rows(module string) (k, v []float32) {
	kv, ok := b.kv[module]
	if !ok {
		return nil, nil
	}
	return kv[0].Data().([]float32), kv[1].Data().([]float32)
}

// Slots returns the concepts' positions in the prompt.
func (b *Blender) Slots() []Slot { return append([]Slot(nil), b.slots...) }

// GuidanceLosses returns the guidance loss of each guidance step run so far.
func (b *Blender) GuidanceLosses() []float64 {
	b.mu.Lock()
	defer b.mu.Unlock()
	return append([]float64(nil), b.losses...)
}

// GuidanceGrads returns d(loss)/d(latents) of each guidance step run so far.
func (b *Blender) GuidanceGrads() [][]float32 {
	b.mu.Lock()
	defer b.mu.Unlock()
	return append([][]float32(nil), b.grads...)
}

// Metadata describes the blend for the image's text chunk.
func (b *Blender) Metadata() map[string]string {
	md := b.opts.Metadata()
	for i, c := range b.s.Concepts {
		md[fmt.Sprintf("concept%d", i+1)] = c.ClassNoun
		if c.Entry.NumPlaces() > 1 {
			md[fmt.Sprintf("concept%d_place", i+1)] = strconv.Itoa(b.places[i])
		}
	}
	return md
}

// setReplace makes p write every concept's rows into the given batch rows.
func (b *Blender) setReplace(p *processor, rows []int) {
	p.replace, p.rows, p.slots = b.kv, rows, b.slots
}

// bindColumns is the reference's bind_dict: the modifier slot's score column becomes a
// copy of the noun's last token's (applied as a key-row copy, see processor.bind).
func (b *Blender) bindColumns() []unet.ColumnCopy {
	if b.opts.NoBinding {
		return nil
	}
	out := make([]unet.ColumnCopy, len(b.slots))
	for i, s := range b.slots {
		out[i] = unet.ColumnCopy{From: s.End - 1, To: s.Start}
	}
	return out
}

func (b *Blender) lossSpec() LossSpec {
	spec := LossSpec{LastPositiveOnly: b.opts.ReferenceCompat}
	for _, s := range b.slots {
		spec.Concepts = append(spec.Concepts, LossConcept{Modifier: s.Start, Nouns: s.Nouns()})
	}
	return spec
}

func (b *Blender) isSaveStep(i, total int) bool {
	return b.opts.Rectification && i == b.opts.saveStep(total)
}

// Hooks returns the pipeline hooks that run LatexBlend; next's hooks (a progress
// display, say) still run. With no concepts only next's hooks run, so the generation
// is the plain pipeline's, bit for bit.
func (b *Blender) Hooks(next sdxl.Hooks) sdxl.Hooks {
	if len(b.slots) == 0 {
		return next
	}
	h := next
	h.BeforeStep = func(ctx context.Context, st *sdxl.Step) (*tensor.Dense, error) {
		if next.BeforeStep != nil {
			nl, err := next.BeforeStep(ctx, st)
			if err != nil {
				return nil, err
			}
			if nl != nil {
				st.Latents = nl
			}
		}
		if b.opts.Guidance && st.Index < b.opts.GuidanceSteps {
			return b.guide(ctx, st)
		}
		return st.Latents, nil
	}
	h.Processor = func(st *sdxl.Step) (unet.Processor, error) {
		return b.stepProcessor(st)
	}
	h.AfterUNet = func(st *sdxl.Step, out *unet.Output) error {
		if b.isSaveStep(st.Index, st.Total) {
			if err := b.saveAttention(st, out); err != nil {
				return err
			}
		}
		if next.AfterUNet != nil {
			return next.AfterUNet(st, out)
		}
		return nil
	}
	return h
}

// stepProcessor is the main (guidance-batched) UNet call's processor.
func (b *Blender) stepProcessor(st *sdxl.Step) (unet.Processor, error) {
	if err := b.checkPrompt(st.Cond); err != nil {
		return nil, err
	}
	p := &processor{bind: b.bindColumns()}
	save := b.isSaveStep(st.Index, st.Total)
	if b.opts.blending(st.Timestep) && !save {
		b.setReplace(p, st.Cond.ConditionalRows())
	}
	if save {
		p.save = map[string]bool{}
		for _, m := range b.saveModules(st) {
			p.save[m] = true
		}
		p.saveRows = st.Cond.ConditionalRows()
	}
	b.mu.Lock()
	rs := b.rect
	b.mu.Unlock()
	if rs != nil && b.opts.Rectification && st.Index > b.opts.saveStep(st.Total) {
		rect, err := rs.coefficients(st.Timestep, b.opts.CReg, st.Cond)
		if err != nil {
			return nil, err
		}
		p.rect = rect
	}
	if len(p.replace) == 0 && len(p.bind) == 0 && len(p.save) == 0 && len(p.rect) == 0 {
		return nil, nil // nothing to edit: the plain UNet graph
	}
	return p, nil
}

// checkPrompt makes sure the generation encodes the prompt the slots were found in.
func (b *Blender) checkPrompt(c *sdxl.Conditioning) error {
	if c == nil || c.Embeds == nil || len(c.Embeds.IDs) == 0 {
		return nil
	}
	want := b.s.Tokenizer.EncodePadded(b.s.Prompt)
	for i, ids := range c.Embeds.IDs {
		if !slices.Equal(ids, want) {
			return fmt.Errorf("blend: prompt %d of the generation is not the prompt %q the concept slots were found in", i, b.s.Prompt)
		}
	}
	return nil
}

// guide runs one blending-guidance step: a conditional-only forward with the guidance
// loss, then latents − stepsize·∇loss.
func (b *Blender) guide(ctx context.Context, st *sdxl.Step) (*tensor.Dense, error) {
	if err := b.checkPrompt(st.Cond); err != nil {
		return nil, err
	}
	cctx, te, ti, err := st.Cond.Conditional()
	if err != nil {
		return nil, err
	}
	z := st.Latents.Data().([]float32)
	n := st.Cond.Images
	in := append([]float32(nil), z...)
	scale := float32(1)
	if !b.opts.ReferenceCompat {
		// The reference feeds the unscaled Euler latent here (its scale_model_input is
		// commented out); the fixed objective scales it like every other UNet input.
		if in, err = st.Scheduler.ScaleModelInput(z, st.Index); err != nil {
			return nil, err
		}
		one, err := st.Scheduler.ScaleModelInput([]float32{1}, st.Index)
		if err != nil {
			return nil, err
		}
		scale = one[0]
	}
	p := &processor{}
	spec := b.lossSpec()
	p.loss = &spec
	if b.opts.blending(st.Timestep) && !b.isSaveStep(st.Index, st.Total) {
		b.setReplace(p, b.opts.guidanceRows(n))
	}
	s := st.Latents.Shape()
	sample := tensor.New(tensor.WithShape(s.Clone()...), tensor.WithBacking(in))
	out, err := st.UNet.Forward(ctx, unet.Inputs{Sample: sample, Timesteps: []float64{st.Timestep}, Context: cctx, TextEmbeds: te, TimeIDs: ti},
		unet.Options{Processor: p, GradSample: true})
	if err != nil {
		return nil, fmt.Errorf("blend: guidance pass: %w", err)
	}
	g := out.SampleGrad.Data().([]float32)
	step := float32(b.opts.GuidanceStepsize)
	next := make([]float32, len(z))
	dz := make([]float32, len(z))
	for i := range z {
		dz[i] = g[i] * scale
		next[i] = z[i] - step*dz[i]
	}
	b.mu.Lock()
	b.losses = append(b.losses, out.Loss)
	b.grads = append(b.grads, dz)
	b.mu.Unlock()
	b.log.Debug("blend guidance", "step", st.Index, "t", st.Timestep, "loss", out.Loss)
	return tensor.New(tensor.WithShape(s.Clone()...), tensor.WithBacking(next)), nil
}
