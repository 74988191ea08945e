package base

import (
	"errors"
	"fmt"
	"path/filepath"

	"gorgonia.org/tensor"

	"github.com/latexblend/latexblend/model/clip"
	"github.com/latexblend/latexblend/model/unet"
	"github.com/latexblend/latexblend/model/vae"
	"github.com/latexblend/latexblend/nn"
	"github.com/latexblend/latexblend/shapes"
)

// Component folder names, which are also the text encoders' parameter prefixes in the
// shared text store (one graph needs distinct names).
const (
	textEncoder1 = "text_encoder"
	textEncoder2 = "text_encoder_2"
)

// model is the base model being trained: every component, freshly initialised.
type model struct {
	vae      *vae.Model
	unet     *unet.Model
	text     *nn.Params // both text encoders, under their folder names
	te1, te2 *clip.TextModel
	tok1     *clip.Tokenizer
	tok2     *clip.Tokenizer
}

// newModel builds every component from the package's configs, initialised from seed,
// with the tokenizers read from dir (written there by writeStatic).
func newModel(dir string, seed uint64) (*model, error) {
	m := &model{text: nn.NewParams(tensor.Float32)}
	var err error
	if m.tok1, err = clip.LoadTokenizer(filepath.Join(dir, "tokenizer")); err != nil {
		return nil, err
	}
	if m.tok2, err = clip.LoadTokenizer(filepath.Join(dir, "tokenizer_2")); err != nil {
		return nil, err
	}
	vocab := len(shapes.BuildTokenizer().Vocab)
	if m.tok1.Len() != vocab {
		return nil, fmt.Errorf("tokenizer in %s has %d ids, the shapes tokenizer %d", dir, m.tok1.Len(), vocab)
	}
	if m.vae, err = vae.New(VAEConfig(), tensor.Float32); err != nil {
		return nil, err
	}
	initParams(m.vae.Params, seed^0x1)
	if m.unet, err = unet.New(ptr(UNetConfig()), tensor.Float32); err != nil {
		return nil, err
	}
	initParams(m.unet.Params(), seed^0x2)
	if m.te1, m.te2, err = newTextEncoders(m.text, vocab); err != nil {
		return nil, err
	}
	m.te1.InitRandom(seed ^ 0x3)
	m.te2.InitRandom(seed ^ 0x4)
	return m, nil
}

// newTextEncoders registers both text encoders in one store, under their folder names.
func newTextEncoders(text *nn.Params, vocab int) (te1, te2 *clip.TextModel, err error) {
	if te1, err = clip.NewTextModel(text, textEncoder1, TextConfig(vocab, false)); err != nil {
		return nil, nil, err
	}
	if te2, err = clip.NewTextModel(text, textEncoder2, TextConfig(vocab, true)); err != nil {
		return nil, nil, err
	}
	return te1, te2, nil
}

func ptr[T any](v T) *T { return &v }

// Close releases the compiled graphs.
func (m *model) Close() error {
	return errors.Join(m.vae.Close(), m.unet.Release())
}

// denoiser returns the model's UNet and text encoders as the first training replica.
func (m *model) denoiser() *denoiser {
	return &denoiser{u: m.unet, te1: m.te1, te2: m.te2}
}

// denoiserCopy builds another UNet and text encoder pair holding m's current weights,
// a data-parallel replica for the UNet phase; the caller releases its UNet (u.Release).
func (m *model) denoiserCopy() (*denoiser, error) {
	u, err := unet.New(ptr(UNetConfig()), tensor.Float32)
	if err != nil {
		return nil, err
	}
	text := nn.NewParams(tensor.Float32)
	te1, te2, err := newTextEncoders(text, m.te1.Config.VocabSize)
	if err != nil {
		return nil, err
	}
	for _, pair := range [][2]*nn.Params{{m.unet.Params(), u.Params()}, {m.text, text}} {
		if err := copyParams(pair[1], pair[0]); err != nil {
			return nil, err
		}
	}
	return &denoiser{u: u, te1: te1, te2: te2}, nil
}

// vaeCopy builds another VAE holding m.vae's current weights, a data-parallel replica
// for the VAE phase.
func (m *model) vaeCopy() (*vae.Model, error) {
	v, err := vae.New(VAEConfig(), tensor.Float32)
	if err != nil {
		return nil, err
	}
	if err := copyParams(v.Params, m.vae.Params); err != nil {
		return nil, err
	}
	return v, nil
}

// copyParams copies every tensor of src into the same-named tensor of dst.
func copyParams(dst, src *nn.Params) error {
	for _, name := range src.Names() {
		d, s := dst.Get(name), src.Get(name)
		if d == nil || !d.Value.Shape().Eq(s.Value.Shape()) {
			return fmt.Errorf("replica: parameter %s is missing or has another shape", name)
		}
		copy(d.Value.Data().([]float32), s.Value.Data().([]float32))
	}
	return nil
}
