package sdxl

import (
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"

	"github.com/latexblend/latexblend/model/clip"
	"github.com/latexblend/latexblend/model/diffusers"
)

// Component folder names of an SDXL diffusers model.
const (
	TokenizerDir    = "tokenizer"
	Tokenizer2Dir   = "tokenizer_2"
	TextEncoderDir  = "text_encoder"
	TextEncoder2Dir = "text_encoder_2"
)

// PromptEncoder turns prompts into SDXL's text conditioning: the penultimate hidden
// states of both CLIP text encoders side by side ([B, 77, 768+1280] for SDXL) and the
// projected pooled output of encoder 2 ([B, 1280]). It is safe for concurrent use.
type PromptEncoder struct {
	Tokenizer, Tokenizer2     *clip.Tokenizer
	TextEncoder, TextEncoder2 *clip.TextEncoder
	// ForceZerosForEmptyPrompt makes guidance use all-zero negative embeddings when no
	// negative prompt is given (SDXL base's setting; see LoadPromptEncoder).
	ForceZerosForEmptyPrompt bool
}

// LoadPromptEncoder reads the tokenizers and text encoders of an SDXL diffusers model
// folder and the pipeline's force_zeros_for_empty_prompt (ForceZerosForEmptyPrompt).
func LoadPromptEncoder(dir string) (*PromptEncoder, error) {
	m, err := diffusers.Open(dir)
	if err != nil {
		return nil, fmt.Errorf("sdxl: %w", err)
	}
	force, err := ForceZerosForEmptyPrompt(m)
	if err != nil {
		return nil, err
	}
	p := &PromptEncoder{ForceZerosForEmptyPrompt: force}
	for _, c := range []struct {
		name string
		dst  **clip.Tokenizer
	}{{TokenizerDir, &p.Tokenizer}, {Tokenizer2Dir, &p.Tokenizer2}} {
		d, err := m.ComponentDir(c.name)
		if err != nil {
			return nil, fmt.Errorf("sdxl: %w", err)
		}
		if *c.dst, err = clip.LoadTokenizer(d); err != nil {
			return nil, fmt.Errorf("sdxl: %w", err)
		}
	}
	for _, c := range []struct {
		name string
		dst  **clip.TextEncoder
	}{{TextEncoderDir, &p.TextEncoder}, {TextEncoder2Dir, &p.TextEncoder2}} {
		d, err := m.ComponentDir(c.name)
		if err != nil {
			return nil, fmt.Errorf("sdxl: %w", err)
		}
		if *c.dst, err = clip.LoadTextEncoder(d, c.name); err != nil {
			p.Close()
			return nil, fmt.Errorf("sdxl: %w", err)
		}
	}
	if err := p.check(); err != nil {
		p.Close()
		return nil, fmt.Errorf("sdxl: %s: %w", dir, err)
	}
	return p, nil
}

// check verifies the parts fit together: each tokenizer's ids fit its encoder's table
// and encoder 2 has the projection that gives the pooled embedding.
func (p *PromptEncoder) check() error {
	for _, c := range []struct {
		tok  *clip.Tokenizer
		enc  *clip.TextEncoder
		name string
	}{{p.Tokenizer, p.TextEncoder, TextEncoderDir}, {p.Tokenizer2, p.TextEncoder2, TextEncoder2Dir}} {
		if c.tok.Len() > c.enc.Model.NumTokens() {
			return fmt.Errorf("%s: the tokenizer has %d ids, the token embedding %d rows", c.name, c.tok.Len(), c.enc.Model.NumTokens())
		}
		if c.tok.MaxLength() > c.enc.Model.MaxLength() {
			return fmt.Errorf("%s: the tokenizer pads to %d ids, the position table has %d rows", c.name, c.tok.MaxLength(), c.enc.Model.MaxLength())
		}
	}
	if p.Tokenizer.MaxLength() != p.Tokenizer2.MaxLength() {
		return fmt.Errorf("the tokenizers pad to %d and %d ids; the embeddings are joined per position", p.Tokenizer.MaxLength(), p.Tokenizer2.MaxLength())
	}
	if !p.TextEncoder2.Model.HasProjection() {
		return fmt.Errorf("%s is not a CLIPTextModelWithProjection: SDXL's pooled embedding is its text_embeds", TextEncoder2Dir)
	}
	return nil
}

// ForceZerosForEmptyPrompt returns the pipeline's force_zeros_for_empty_prompt as
// diffusers resolves it: model_index.json's value when present, else the pipeline
// class's constructor default — true for StableDiffusionXLPipeline and
// StableDiffusionXLInpaintPipeline, false for the others (e.g. the img2img refiner).
func ForceZerosForEmptyPrompt(m *diffusers.Model) (bool, error) {
	// ModelIndex reports an absent key as false, so look for the key itself.
	path := filepath.Join(m.Dir, diffusers.IndexFile)
	data, err := os.ReadFile(path)
	if err != nil {
		return false, fmt.Errorf("sdxl: %w", err)
	}
	var raw struct {
		Force *bool `json:"force_zeros_for_empty_prompt"`
	}
	if err := json.Unmarshal(data, &raw); err != nil {
		return false, fmt.Errorf("sdxl: %s: force_zeros_for_empty_prompt: %w", path, err)
	}
	if raw.Force != nil {
		return *raw.Force, nil
	}
	switch m.Index.ClassName {
	case "StableDiffusionXLPipeline", "StableDiffusionXLInpaintPipeline":
		return true, nil
	}
	return false, nil
}

// Close releases both encoders' compiled graphs.
func (p *PromptEncoder) Close() error {
	var first error
	for _, e := range []*clip.TextEncoder{p.TextEncoder, p.TextEncoder2} {
		if e == nil {
			continue
		}
		if err := e.Close(); err != nil && first == nil {
			first = err
		}
	}
	return first
}
