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

// processor is one UNet call's attention edits: unet.Edits (K/V replacement, the bind
// trick's score-column copies, probability reads) plus the two LatexBlend additions,
// rectification of the cross-attention scores and the blending-guidance loss.
type processor struct {
	edits unet.Edits
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

const bindInput = "blend.bind_blocks"

var _ unet.Processor = (*processor)(nil)

func (p *processor) Key() string {
	var sb strings.Builder
	sb.WriteString(p.edits.Key())
	mods := make([]string, 0, len(p.rect))
	for m := range p.rect {
		mods = append(mods, m)
	}
	sort.Strings(mods)
	fmt.Fprintf(&sb, " rect=%v bind=%v", mods, len(p.bind) > 0)
	if p.loss != nil {
		fmt.Fprintf(&sb, " loss=%+v", *p.loss)
	}
	return sb.String()
}

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
			if err != nil || len(p.bind) == 0 || !s.Cross {
				return k, v, err
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
			return base.Unfused(s) || r || (p.loss != nil && s.Cross)
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
