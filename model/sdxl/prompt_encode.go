package sdxl

import (
	"fmt"

	"gorgonia.org/tensor"
)

// PromptRequest is what diffusers' encode_prompt takes (v0.21.4), for a batch of
// prompts.
type PromptRequest struct {
	// Prompts is the batch, one image prompt each (tokenizer / text_encoder).
	Prompts []string
	// Prompts2 goes to tokenizer_2 / text_encoder_2 (prompt_2); nil means Prompts.
	Prompts2 []string
	// NegativePrompts are the guidance prompts: nil is "no negative prompt" (all-zero
	// negative embeddings when ForceZerosForEmptyPrompt, else the empty prompt is
	// encoded); one entry applies to the whole batch, otherwise one per prompt.
	NegativePrompts []string
	// NegativePrompts2 is negative_prompt_2, same rules; nil means NegativePrompts.
	NegativePrompts2 []string
	// NumImagesPerPrompt repeats each prompt's rows (0 means 1).
	NumImagesPerPrompt int
	// Guidance is do_classifier_free_guidance: compute the negative embeddings too.
	Guidance bool
}

// PromptEmbeds is encode_prompt's result, float32, rows in batch order with each
// prompt's NumImagesPerPrompt copies adjacent.
type PromptEmbeds struct {
	// PromptEmbeds [N, 77, D1+D2]: both encoders' penultimate hidden states.
	PromptEmbeds *tensor.Dense
	// PooledPromptEmbeds [N, P]: encoder 2's text_embeds.
	PooledPromptEmbeds *tensor.Dense
	// The negative counterparts, nil without guidance.
	NegativePromptEmbeds       *tensor.Dense
	NegativePooledPromptEmbeds *tensor.Dense
	// IDs and IDs2 are the token ids of the prompts per tokenizer (before repetition),
	// for checking against other implementations.
	IDs, IDs2 [][]int
}

// GuidanceBatch stacks negative then positive rows, [2N, …], as the pipeline does
// before the UNet call under classifier-free guidance; without guidance it returns the
// positive embeddings.
func (e *PromptEmbeds) GuidanceBatch() (ctx, pooled *tensor.Dense, err error) {
	if e.NegativePromptEmbeds == nil {
		return e.PromptEmbeds, e.PooledPromptEmbeds, nil
	}
	if ctx, err = catRows(e.NegativePromptEmbeds, e.PromptEmbeds); err != nil {
		return nil, nil, fmt.Errorf("sdxl: guidance batch: %w", err)
	}
	if pooled, err = catRows(e.NegativePooledPromptEmbeds, e.PooledPromptEmbeds); err != nil {
		return nil, nil, fmt.Errorf("sdxl: guidance batch: %w", err)
	}
	return ctx, pooled, nil
}

// EncodePrompt is StableDiffusionXLPipeline.encode_prompt: each prompt is tokenized by
// both tokenizers (padded and truncated to 77), each encoder's hidden_states[-2] are
// joined on the feature axis, and encoder 2's text_embeds are the pooled embedding.
// Under guidance the negative prompts are encoded the same way, or — when no negative
// prompt is given and ForceZerosForEmptyPrompt is set — are all zeros without running
// the encoders.
func (p *PromptEncoder) EncodePrompt(req PromptRequest) (*PromptEmbeds, error) {
	b := len(req.Prompts)
	if b == 0 {
		return nil, fmt.Errorf("sdxl: encode prompt: no prompts")
	}
	prompts2 := req.Prompts2
	if prompts2 == nil {
		prompts2 = req.Prompts
	}
	if len(prompts2) != b {
		return nil, fmt.Errorf("sdxl: encode prompt: %d prompts but %d second prompts", b, len(prompts2))
	}
	n := req.NumImagesPerPrompt
	if n == 0 {
		n = 1
	}
	if n < 0 {
		return nil, fmt.Errorf("sdxl: encode prompt: %d images per prompt", n)
	}
	out := &PromptEmbeds{}
	ctx, pooled, ids, ids2, err := p.encodePair(req.Prompts, prompts2)
	if err != nil {
		return nil, err
	}
	out.IDs, out.IDs2 = ids, ids2
	if out.PromptEmbeds, err = repeatRows(ctx, n); err != nil {
		return nil, err
	}
	if out.PooledPromptEmbeds, err = repeatRows(pooled, n); err != nil {
		return nil, err
	}
	if !req.Guidance {
		return out, nil
	}
	if req.NegativePrompts == nil && p.ForceZerosForEmptyPrompt {
		out.NegativePromptEmbeds = zerosLike(out.PromptEmbeds)
		out.NegativePooledPromptEmbeds = zerosLike(out.PooledPromptEmbeds)
		return out, nil
	}
	neg, err := broadcastPrompts("negative prompts", req.NegativePrompts, []string{""}, b)
	if err != nil {
		return nil, err
	}
	neg2, err := broadcastPrompts("second negative prompts", req.NegativePrompts2, neg, b)
	if err != nil {
		return nil, err
	}
	nctx, npooled, _, _, err := p.encodePair(neg, neg2)
	if err != nil {
		return nil, err
	}
	if out.NegativePromptEmbeds, err = repeatRows(nctx, n); err != nil {
		return nil, err
	}
	if out.NegativePooledPromptEmbeds, err = repeatRows(npooled, n); err != nil {
		return nil, err
	}
	return out, nil
}

// broadcastPrompts resolves an optional prompt list against a batch of b: nil takes
// def, one entry is repeated, otherwise there must be b entries.
func broadcastPrompts(what string, ps, def []string, b int) ([]string, error) {
	if ps == nil {
		ps = def
	}
	switch len(ps) {
	case b:
		return ps, nil
	case 1:
		out := make([]string, b)
		for i := range out {
			out[i] = ps[0]
		}
		return out, nil
	}
	return nil, fmt.Errorf("sdxl: encode prompt: %d %s for a batch of %d prompts (give 1 or %d)", len(ps), what, b, b)
}

// encodePair runs prompts through tokenizer/encoder 1 and prompts2 through
// tokenizer_2/encoder 2 and returns the joined penultimate states [B, L, D1+D2] and
// encoder 2's text_embeds [B, P].
func (p *PromptEncoder) encodePair(prompts, prompts2 []string) (ctx, pooled *tensor.Dense, ids, ids2 [][]int, err error) {
	for _, s := range prompts {
		ids = append(ids, p.Tokenizer.EncodePadded(s))
	}
	for _, s := range prompts2 {
		ids2 = append(ids2, p.Tokenizer2.EncodePadded(s))
	}
	if ctx, pooled, err = p.EncodeIDs(ids, ids2); err != nil {
		return nil, nil, nil, nil, err
	}
	return ctx, pooled, ids, ids2, nil
}

// EncodeIDs runs already tokenized rows (77 ids per row for each tokenizer) through both
// encoders: the joined penultimate states and encoder 2's text_embeds. The trainer and
// tests that start from reference ids use it.
func (p *PromptEncoder) EncodeIDs(ids, ids2 [][]int) (ctx, pooled *tensor.Dense, err error) {
	if len(ids) != len(ids2) {
		return nil, nil, fmt.Errorf("sdxl: encode ids: %d rows for encoder 1, %d for encoder 2", len(ids), len(ids2))
	}
	e1, err := p.TextEncoder.Encode(ids)
	if err != nil {
		return nil, nil, fmt.Errorf("sdxl: %s: %w", TextEncoderDir, err)
	}
	e2, err := p.TextEncoder2.Encode(ids2)
	if err != nil {
		return nil, nil, fmt.Errorf("sdxl: %s: %w", TextEncoder2Dir, err)
	}
	if ctx, err = catFeatures(e1.Penultimate(), e2.Penultimate()); err != nil {
		return nil, nil, fmt.Errorf("sdxl: joining the encoders' states: %w", err)
	}
	return ctx, e2.TextEmbeds, nil
}
