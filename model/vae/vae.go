package vae

import (
	"fmt"

	G "gorgonia.org/gorgonia"
	"gorgonia.org/tensor"

	"github.com/latexblend/latexblend/model/diffusers"
	"github.com/latexblend/latexblend/nn"
)

// Model is an AutoencoderKL: parameters under diffusers keys, the encoder and decoder
// networks, and the programs Encode and Decode run. Encode and Decode run the network
// one step (resnet, attention, convolution) at a time, each a program compiled per
// input shape, so only one step's activations are held at once; EncodeGraph and
// DecodeGraph put the whole network into a caller's graph instead. A Model is safe for
// concurrent use.
type Model struct {
	Config  diffusers.VAEConfig
	Params  *nn.Params
	Encoder *Encoder
	Decoder *Decoder
	// QuantConv (1×1, 2·latent → 2·latent) follows the encoder and PostQuantConv
	// (1×1, latent → latent) precedes the decoder; nil when the config disables them.
	QuantConv, PostQuantConv *nn.Conv2d

	s       *structure
	encoder *stagedRunner
	decoder *stagedRunner
}

// New builds an AutoencoderKL with zero parameters of the given dtype (tensor.Float32
// for inference; tensor.Float64 for gradient checks). Load weights with LoadWeights.
func New(cfg diffusers.VAEConfig, dtype tensor.Dtype) (*Model, error) {
	s, err := newStructure(&cfg)
	if err != nil {
		return nil, err
	}
	ps := nn.NewParams(dtype)
	m := &Model{Config: cfg, Params: ps, s: s}
	m.Encoder = newEncoder(ps, s)
	if s.quantConv {
		m.QuantConv = nn.NewConv2d(ps, "quant_conv", 2*s.latentChannels, 2*s.latentChannels, 1, nn.Conv2dOptions{}, true)
	}
	if s.postQuantConv {
		m.PostQuantConv = nn.NewConv2d(ps, "post_quant_conv", s.latentChannels, s.latentChannels, 1, nn.Conv2dOptions{}, true)
	}
	m.Decoder = newDecoder(ps, s)
	if err := ps.Err(); err != nil {
		return nil, fmt.Errorf("vae: %w", err)
	}
	m.encoder = newStagedRunner(ps, m.encodeSteps())
	m.decoder = newStagedRunner(ps, m.decodeSteps())
	return m, nil
}

// ScalingFactor is the config's scaling_factor (0.13025 for SDXL, 0.18215 for SD 1.x):
// the pipeline multiplies encoder samples by it and divides latents by it before
// decoding. The model itself never applies it.
func (m *Model) ScalingFactor() float64 { return m.Config.ScalingFactor }

// DownFactor is the ratio of image side to latent side, 2^(blocks-1) (8 for SDXL).
func (m *Model) DownFactor() int { return m.s.downFactor() }

// LatentChannels is the number of latent channels (4 for SDXL).
func (m *Model) LatentChannels() int { return m.s.latentChannels }

// Close releases the compiled programs.
func (m *Model) Close() error {
	err1 := m.encoder.close()
	err2 := m.decoder.close()
	if err1 != nil {
		return err1
	}
	return err2
}

// encodeSteps are the encoder's steps followed by quant_conv.
func (m *Model) encodeSteps() []step {
	steps := m.Encoder.steps()
	if m.QuantConv != nil {
		steps = append(steps, convStep(m.QuantConv))
	}
	return steps
}

// decodeSteps are post_quant_conv followed by the decoder's steps.
func (m *Model) decodeSteps() []step {
	var steps []step
	if m.PostQuantConv != nil {
		steps = append(steps, convStep(m.PostQuantConv))
	}
	return append(steps, m.Decoder.steps()...)
}

// EncodeGraph adds the encoder and quant_conv to a graph: images x [B, in, H, W] give
// the Gaussian's moments [B, 2·latent, H/f, W/f], the mean's channels first and then
// the (unclamped) log-variance's. Every op has a gradient.
func (m *Model) EncodeGraph(b *nn.Builder, x *G.Node) (*G.Node, error) {
	if err := m.checkInput("image", x.Shape(), m.s.inChannels, m.DownFactor()); err != nil {
		return nil, err
	}
	h, err := applySteps(b, m.encodeSteps(), x)
	if err != nil {
		return nil, fmt.Errorf("vae: %w", err)
	}
	return h, nil
}

// DecodeGraph adds post_quant_conv and the decoder to a graph: latents z [B, latent, h, w]
// (already divided by ScalingFactor) give images [B, out, h·f, w·f]. Every op has a
// gradient, so a caller may differentiate through it.
func (m *Model) DecodeGraph(b *nn.Builder, z *G.Node) (*G.Node, error) {
	if err := m.checkInput("latent", z.Shape(), m.s.latentChannels, 1); err != nil {
		return nil, err
	}
	h, err := applySteps(b, m.decodeSteps(), z)
	if err != nil {
		return nil, fmt.Errorf("vae: %w", err)
	}
	return h, nil
}

// checkInput rejects inputs the network would silently mis-shape: the wrong rank or
// channel count, or a side the encoder's halvings would not divide.
func (m *Model) checkInput(what string, s tensor.Shape, channels, multiple int) error {
	if len(s) != 4 || s[0] <= 0 || s[1] != channels || s[2] <= 0 || s[3] <= 0 {
		return fmt.Errorf("vae: %s has shape %v, want [B, %d, H, W]", what, []int(s), channels)
	}
	if s[2]%multiple != 0 || s[3]%multiple != 0 {
		return fmt.Errorf("vae: %s is %d×%d (H×W), both must be multiples of %d (the encoder halves %d times)",
			what, s[2], s[3], multiple, len(m.s.channels)-1)
	}
	return nil
}

// Encode runs the encoder on images [B, in_channels, H, W] in [-1, 1] (H and W multiples
// of DownFactor) and returns the latent distribution, unscaled.
func (m *Model) Encode(images *tensor.Dense) (*Distribution, error) {
	if err := m.checkInput("image", images.Shape(), m.s.inChannels, m.DownFactor()); err != nil {
		return nil, err
	}
	moments, err := m.encoder.run(images)
	if err != nil {
		return nil, fmt.Errorf("vae: encode: %w", err)
	}
	return newDistribution(moments)
}

// Decode runs the decoder on latents [B, latent_channels, h, w], which the caller has
// already divided by ScalingFactor, and returns images [B, out_channels, h·f, w·f]
// (nominally in [-1, 1], not clamped).
func (m *Model) Decode(latents *tensor.Dense) (*tensor.Dense, error) {
	if err := m.checkInput("latent", latents.Shape(), m.s.latentChannels, 1); err != nil {
		return nil, err
	}
	img, err := m.decoder.run(latents)
	if err != nil {
		return nil, fmt.Errorf("vae: decode: %w", err)
	}
	return img, nil
}
