package unet

import (
	"fmt"

	"gorgonia.org/tensor"
)

// Inputs are the arguments of one UNet evaluation, as in diffusers'
// unet(sample, timestep, encoder_hidden_states, added_cond_kwargs=...).
type Inputs struct {
	// Sample is the (scaled) latent [B, in_channels, H, W]; H and W must be multiples
	// of 2^(number of upsamplers).
	Sample *tensor.Dense
	// Timesteps holds one timestep for the whole batch or one per sample row.
	Timesteps []float64
	// Context is encoder_hidden_states [Bc, L, cross_attention_dim]. Bc is normally B;
	// a KV hook may use more rows (see Hooks.KV).
	Context *tensor.Dense
	// TextEmbeds [B, pooled] and TimeIDs [B, n] are SDXL's added conditions (text_time
	// configs only); n·addition_time_embed_dim + pooled must equal
	// projection_class_embeddings_input_dim.
	TextEmbeds *tensor.Dense
	TimeIDs    *tensor.Dense
}

// GraphInputs checks in against the model and returns the named graph inputs of
// InputNodes: the tensors themselves plus the sinusoidal projections of the timesteps
// and time ids, computed here rather than in the graph since nothing differentiates
// through them.
func (m *Model) GraphInputs(in Inputs) (map[string]*tensor.Dense, error) {
	a := m.plan
	dt := m.params.Dtype()
	if in.Sample == nil || in.Context == nil {
		return nil, fmt.Errorf("unet: inputs: sample and context (encoder_hidden_states) are required")
	}
	s := in.Sample.Shape()
	if len(s) != 4 || s[1] != a.inCh {
		return nil, fmt.Errorf("unet: inputs: sample has shape %v, want [B, %d, H, W]", s, a.inCh)
	}
	bs := s[0]
	if mult := 1 << a.numUpsamplers; s[2]%mult != 0 || s[3]%mult != 0 {
		return nil, fmt.Errorf("unet: inputs: sample is %dx%d; this UNet needs height and width that are multiples of %d", s[2], s[3], mult)
	}
	cs := in.Context.Shape()
	if len(cs) != 3 || cs[2] != a.down[0].crossDim {
		return nil, fmt.Errorf("unet: inputs: context (encoder_hidden_states) has shape %v, want [B, L, %d]", cs, a.down[0].crossDim)
	}
	for name, t := range map[string]*tensor.Dense{"sample": in.Sample, "context": in.Context, "text_embeds": in.TextEmbeds, "time_ids": in.TimeIDs} {
		if t != nil && t.Dtype() != dt {
			return nil, fmt.Errorf("unet: inputs: %s is %v, the model is %v", name, t.Dtype(), dt)
		}
	}
	ts := in.Timesteps
	switch len(ts) {
	case 1:
		ts = make([]float64, bs)
		for i := range ts {
			ts[i] = in.Timesteps[0]
		}
	case bs:
	default:
		return nil, fmt.Errorf("unet: inputs: %d timesteps for a batch of %d (want 1 or %d)", len(ts), bs, bs)
	}
	out := map[string]*tensor.Dense{
		InputSample:   in.Sample,
		InputContext:  in.Context,
		InputTimeProj: denseOf(dt, Sinusoid(ts, a.timeInDim, a.flipSinToCos, a.freqShift), bs, a.timeInDim),
	}
	if a.addTimeDim == 0 {
		if in.TextEmbeds != nil || in.TimeIDs != nil {
			return nil, fmt.Errorf("unet: inputs: text_embeds/time_ids given but the config has no text_time added embedding")
		}
		return out, nil
	}
	if in.TextEmbeds == nil || in.TimeIDs == nil {
		return nil, fmt.Errorf("unet: inputs: this config (addition_embed_type text_time) needs text_embeds and time_ids")
	}
	te, ti := in.TextEmbeds.Shape(), in.TimeIDs.Shape()
	if len(te) != 2 || len(ti) != 2 || te[0] != bs || ti[0] != bs || te[1]+ti[1]*a.addTimeDim != a.addInDim {
		return nil, fmt.Errorf("unet: inputs: text_embeds %v and time_ids %v must be [%d, P] and [%d, n] with P + n·%d = %d (projection_class_embeddings_input_dim)",
			te, ti, bs, bs, a.addTimeDim, a.addInDim)
	}
	ids := make([]float64, ti[0]*ti[1])
	switch d := in.TimeIDs.Data().(type) {
	case []float32:
		for i, v := range d {
			ids[i] = float64(v)
		}
	case []float64:
		copy(ids, d)
	}
	out[InputTextEmbeds] = in.TextEmbeds
	out[InputTimeIDsProj] = denseOf(dt, Sinusoid(ids, a.addTimeDim, a.flipSinToCos, a.freqShift), bs, ti[1]*a.addTimeDim)
	return out, nil
}

// denseOf wraps float32 values as a tensor of dtype dt.
func denseOf(dt tensor.Dtype, v []float32, shape ...int) *tensor.Dense {
	if dt == tensor.Float64 {
		w := make([]float64, len(v))
		for i, x := range v {
			w[i] = float64(x)
		}
		return tensor.New(tensor.WithShape(shape...), tensor.WithBacking(w))
	}
	return tensor.New(tensor.WithShape(shape...), tensor.WithBacking(v))
}
