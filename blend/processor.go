package blend

import (
	"fmt"
	"sort"
	"strings"

	G "gorgonia.org/gorgonia"
	"gorgonia.org/tensor"

	"github.com/latexblend/latexblend/model/unet"
	"github.com/latexblend/latexblend/nn"
)

// processor is one UNet call's attention edits: the concepts' K/V rows, the bind
// trick, unet.Edits' probability reads, rectification of the cross-attention scores
// and the blending-guidance loss.
type processor struct {
	edits unet.Edits
	// replace holds each attn2 module's concept rows K, V [1, n, C] (every concept's
	// slot rows in slot order) and rows the batch rows and slots they go to.
	replace map[string][2]*tensor.Dense
	rows    []int
	slots   []Slot
	// save lists modules whose head-averaged probabilities of the saveRows are returned
	// as "<module>.mean_probs" [len(saveRows), Lq, Lk].
	save     map[string]bool
	saveRows []int
	// rect maps cross-attention modules to their boost and suppress coefficients
	// [B, Lq, 77] for this call.
	rect map[string][2]*tensor.Dense
	// loss, when set, makes the call's loss the guidance objective over every attn2.
	loss *LossSpec
	// bind copies, in every row of every attn2, the key of the noun's last token onto
	// the modifier slot (Src → Dst). The slot's pre-softmax score column then equals
	// the noun's, which is the reference's bind trick (a score-column copy), while the
	// attention stays on the fused kernel.
	bind []unet.ColumnCopy
}

const (
	bindInput   = "blend.bind_blocks"
	kvBlocksKey = "blend.kv_blocks"
)

func kvInput(module, what string) string { return "blend.kv." + module + "." + what }

// kvBlocks places concept rows: slot j of batch row r reads the source rows of slot j.
func (p *processor) kvBlocks() []nn.SpliceBlock {
	var out []nn.SpliceBlock
	for _, r := range p.rows {
		off := 0
		for _, s := range p.slots {
			out = append(out, nn.SpliceBlock{DstOuter: r, DstPos: s.Start, SrcOuter: 0, SrcPos: off, Len: s.Len()})
			off += s.Len()
		}
	}
	return out
}

var _ unet.Processor = (*processor)(nil)

func (p *processor) Key() string {
	var sb strings.Builder
	sb.WriteString(p.edits.Key())
	mods := make([]string, 0, len(p.rect))
	for m := range p.rect {
		mods = append(mods, m)
	}
	sort.Strings(mods)
	saved := make([]string, 0, len(p.save))
	for m := range p.save {
		saved = append(saved, m)
	}
	sort.Strings(saved)
	fmt.Fprintf(&sb, " rect=%v bind=%v kv=%v save=%v%v", mods, len(p.bind) > 0, len(p.replace) > 0, saved, p.saveRows)
	if p.loss != nil {
		fmt.Fprintf(&sb, " loss=%+v", *p.loss)
	}
	return sb.String()
}

// meanProbs suffixes the save step's outputs.
const meanProbs = ".mean_probs"

func rectInput(module, what string) string { return "blend.rect." + module + "." + what }

func (p *processor) Inputs(call unet.Inputs) (map[string]*tensor.Dense, error) {
	in, err := p.edits.Inputs(call)
	if err != nil {
		return nil, err
	}
	for m, c := range p.rect {
		in[rectInput(m, "boost")] = c[0]
		in[rectInput(m, "sup")] = c[1]
	}
	if len(p.replace) > 0 {
		for m, kv := range p.replace {
			in[kvInput(m, "k")] = kv[0]
			in[kvInput(m, "v")] = kv[1]
		}
		in[kvBlocksKey] = nn.SpliceBlocksTensor(call.Sample.Dtype(), p.kvBlocks())
	}
	if len(p.bind) > 0 {
		blocks := make([]nn.SpliceBlock, len(p.bind))
		for i, c := range p.bind {
			blocks[i] = nn.SpliceBlock{DstOuter: -1, DstPos: c.To, SrcOuter: -1, SrcPos: c.From, Len: 1}
		}
		in[bindInput] = nn.SpliceBlocksTensor(call.Sample.Dtype(), blocks)
	}
	return in, nil
}

func (p *processor) Hooks() unet.Hooks {
	base := p.edits.Hooks()
	var terms []*G.Node // this build's per-layer losses
	return unet.Hooks{
		KV: func(b *nn.Builder, s unet.Site, k, v *G.Node) (*G.Node, *G.Node, error) {
			k, v, err := base.KV(b, s, k, v)
			if err != nil || !s.Cross {
				return k, v, err
			}
			if _, ok := p.replace[s.Module]; ok {
				if k, v, err = writeConceptRows(b, s.Module, k, v); err != nil {
					return nil, nil, err
				}
			}
			if len(p.bind) == 0 {
				return k, v, nil
			}
			blocks, err := b.Input(bindInput)
			if err != nil {
				return nil, nil, err
			}
			if k, err = b.Splice(1, k, k, blocks); err != nil {
				return nil, nil, fmt.Errorf("bind: %w", err)
			}
			return k, v, nil
		},
		Unfused: func(s unet.Site) bool {
			_, r := p.rect[s.Module]
			return base.Unfused(s) || r || p.save[s.Module] || (p.loss != nil && s.Cross)
		},
		Scores: func(b *nn.Builder, s unet.Site, sc *G.Node) (*G.Node, error) {
			sc, err := base.Scores(b, s, sc)
			if err != nil {
				return nil, err
			}
			if _, ok := p.rect[s.Module]; ok {
				boost, err := b.Input(rectInput(s.Module, "boost"))
				if err != nil {
					return nil, err
				}
				sup, err := b.Input(rectInput(s.Module, "sup"))
				if err != nil {
					return nil, err
				}
				return rectifyScores(sc, boost, sup)
			}
			return sc, nil
		},
		Probs: func(b *nn.Builder, s unet.Site, pr *G.Node) (*G.Node, error) {
			pr, err := base.Probs(b, s, pr)
			if err != nil {
				return nil, err
			}
			if p.save[s.Module] {
				mean, err := headMeanRows(pr, p.saveRows)
				if err != nil {
					return nil, fmt.Errorf("%s: %w", s.Module, err)
				}
				b.Output(s.Module+meanProbs, mean)
			}
			if p.loss != nil && s.Cross {
				t, err := guidanceLoss(pr, s.Height, s.Width, *p.loss)
				if err != nil {
					return nil, fmt.Errorf("%s: %w", s.Module, err)
				}
				terms = append(terms, t)
			}
			return pr, nil
		},
		Finish: func(b *nn.Builder, _ *G.Node) error {
			if p.loss == nil {
				return nil
			}
			if len(terms) == 0 {
				return fmt.Errorf("blend: guidance: the UNet has no cross-attention layers")
			}
			total := terms[0]
			for _, t := range terms[1:] {
				var err error
				if total, err = G.Add(total, t); err != nil {
					return err
				}
			}
			sum, err := G.Sum(total)
			if err != nil {
				return err
			}
			b.Loss(sum)
			return nil
		},
	}
}

// writeConceptRows splices the concept rows into the keys and values (one native op
// each, so replacement costs next to nothing per step).
func writeConceptRows(b *nn.Builder, module string, k, v *G.Node) (*G.Node, *G.Node, error) {
	blocks, err := b.Input(kvBlocksKey)
	if err != nil {
		return nil, nil, err
	}
	out := [2]*G.Node{}
	for i, x := range []*G.Node{k, v} {
		what := []string{"k", "v"}[i]
		src, err := b.Input(kvInput(module, what))
		if err != nil {
			return nil, nil, err
		}
		if out[i], err = b.Splice(1, x, src, blocks); err != nil {
			return nil, nil, fmt.Errorf("concept %s rows: %w", what, err)
		}
	}
	return out[0], out[1], nil
}
