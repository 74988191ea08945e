package clip

import (
	"fmt"
	"sync"

	"gorgonia.org/tensor"

	"github.com/latexblend/latexblend/model/diffusers"
	"github.com/latexblend/latexblend/nn"
)

// Graph input and output names of a TextEncoder's program.
const (
	inputIDs        = "input_ids"
	inputPoolSelect = "pool_select"
	outLastHidden   = "last_hidden_state"
	outPooled       = "pooler_output"
	outTextEmbeds   = "text_embeds"
)

func hiddenStateOutput(i int) string { return fmt.Sprintf("hidden_states.%d", i) }

// TextEncoder runs one CLIP text model for inference: it owns a float32 parameter
// store and a program that compiles one graph per batch shape. It is safe for
// concurrent use; encodes are serialised.
type TextEncoder struct {
	Model *TextModel

	mu   sync.Mutex
	prog *nn.Program
}

// NewTextEncoder builds an encoder with zero weights for cfg (fill them with
// Model.LoadWeights or Model.InitRandom).
func NewTextEncoder(cfg diffusers.CLIPTextConfig) (*TextEncoder, error) {
	m, err := NewTextModel(nn.NewParams(tensor.Float32), "", cfg)
	if err != nil {
		return nil, err
	}
	return &TextEncoder{Model: m}, nil
}

// LoadTextEncoder reads a transformers text-encoder folder (a diffusers model's
// text_encoder/ or text_encoder_2/) into an encoder of its own (see LoadTextModel).
// prefix names the parameters in graphs: models that are put into one graph together
// (sdxl.PromptForward) need different prefixes, because gorgonia merges leaf nodes of
// the same name; "" is fine for an encoder used alone.
func LoadTextEncoder(dir, prefix string) (*TextEncoder, error) {
	m, err := LoadTextModel(nn.NewParams(tensor.Float32), prefix, dir)
	if err != nil {
		return nil, err
	}
	return &TextEncoder{Model: m}, nil
}

// AddTokenRows grows the token embedding (TextModel.AddTokenRows) and drops the
// compiled graphs, which read the old table.
func (e *TextEncoder) AddTokenRows(initFrom ...int) ([]int, error) {
	e.mu.Lock()
	defer e.mu.Unlock()
	ids, err := e.Model.AddTokenRows(initFrom...)
	if err != nil || len(ids) == 0 {
		return ids, err
	}
	if e.prog != nil {
		if err := e.prog.Close(); err != nil {
			return nil, fmt.Errorf("clip: dropping graphs after growing the embedding: %w", err)
		}
		e.prog = nil
	}
	return ids, nil
}

// TextEncoding is one encode's result; every tensor is float32 and owned by the caller.
type TextEncoding struct {
	// HiddenStates are the N+1 hidden states [B, L, D] (embeddings, then each layer's
	// output, before the final layer norm).
	HiddenStates []*tensor.Dense
	// LastHiddenState is the final-layer-normed last state [B, L, D].
	LastHiddenState *tensor.Dense
	// Pooled is transformers' pooler_output [B, D]: LastHiddenState at PooledPositions.
	Pooled *tensor.Dense
	// TextEmbeds is the projected pooled output [B, P]; nil without a projection.
	TextEmbeds *tensor.Dense
	// PooledPositions are the pooled position of each row (PooledPosition).
	PooledPositions []int
}

// Penultimate returns HiddenStates[len-2], the state SDXL conditions on.
func (t *TextEncoding) Penultimate() *tensor.Dense { return t.HiddenStates[len(t.HiddenStates)-2] }

// Encode runs the model on rows of token ids (equal lengths, at most
// max_position_embeddings, each id a row of the token embedding).
func (e *TextEncoder) Encode(ids [][]int) (*TextEncoding, error) {
	if err := e.checkIDs(ids); err != nil {
		return nil, err
	}
	idt, err := IDsTensor(tensor.Float32, ids)
	if err != nil {
		return nil, err
	}
	sel, err := PoolSelectTensor(tensor.Float32, ids)
	if err != nil {
		return nil, err
	}
	e.mu.Lock()
	defer e.mu.Unlock()
	if e.prog == nil {
		e.prog = nn.NewProgram(e.Model.Params(), e.build, nn.Hooks{})
	}
	res, err := e.prog.Run(map[string]*tensor.Dense{inputIDs: idt, inputPoolSelect: sel})
	if err != nil {
		return nil, fmt.Errorf("clip: encoding: %w", err)
	}
	out := &TextEncoding{
		LastHiddenState: res.Outputs[outLastHidden],
		Pooled:          res.Outputs[outPooled],
		TextEmbeds:      res.Outputs[outTextEmbeds],
	}
	for i := 0; i <= len(e.Model.Layers); i++ {
		out.HiddenStates = append(out.HiddenStates, res.Outputs[hiddenStateOutput(i)])
	}
	for _, row := range ids {
		out.PooledPositions = append(out.PooledPositions, PooledPosition(row))
	}
	return out, nil
}

// checkIDs rejects id rows the model cannot embed, naming the first bad one.
func (e *TextEncoder) checkIDs(ids [][]int) error {
	if len(ids) == 0 {
		return fmt.Errorf("clip: encode: no id rows")
	}
	v, maxLen := e.Model.NumTokens(), e.Model.MaxLength()
	for r, row := range ids {
		if len(row) == 0 || len(row) > maxLen {
			return fmt.Errorf("clip: encode: row %d has %d ids, want 1..%d", r, len(row), maxLen)
		}
		for p, id := range row {
			if id < 0 || id >= v {
				return fmt.Errorf("clip: encode: row %d position %d: id %d is outside the token embedding's %d rows (added tokens need AddTokenRows)", r, p, id, v)
			}
		}
	}
	return nil
}

func (e *TextEncoder) build(b *nn.Builder) error {
	ids, err := b.Input(inputIDs)
	if err != nil {
		return err
	}
	sel, err := b.Input(inputPoolSelect)
	if err != nil {
		return err
	}
	out, err := e.Model.Forward(b, ids, ForwardOptions{PoolSelect: sel})
	if err != nil {
		return err
	}
	for i, h := range out.HiddenStates {
		b.Output(hiddenStateOutput(i), h)
	}
	b.Output(outLastHidden, out.LastHiddenState)
	b.Output(outPooled, out.Pooled)
	if out.TextEmbeds != nil {
		b.Output(outTextEmbeds, out.TextEmbeds)
	}
	return nil
}

// Close releases the compiled graphs.
func (e *TextEncoder) Close() error {
	e.mu.Lock()
	defer e.mu.Unlock()
	if e.prog == nil {
		return nil
	}
	err := e.prog.Close()
	e.prog = nil
	return err
}
