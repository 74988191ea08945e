package vae

import (
	"errors"
	"fmt"

	G "gorgonia.org/gorgonia"
	"gorgonia.org/tensor"

	"github.com/latexblend/latexblend/model/diffusers"
	"github.com/latexblend/latexblend/nn"
)

// Model is an AutoencoderKL: parameters under diffusers keys, the encoder and decoder
// networks, and compiled programs for Encode and Decode. It is safe for concurrent use;
// runs of the same direction are serialised.
type Model struct {
	Config  diffusers.VAEConfig
	Params  *nn.Params
	Encoder *Encoder
	Decoder *Decoder
	// QuantConv (1×1, 2·latent → 2·latent) follows the encoder and PostQuantConv
	// (1×1, latent → latent) precedes the decoder; nil when the config disables them.
	QuantConv, PostQuantConv *nn.Conv2d

	s       *structure
	encoder *nn.Program
	decoder *nn.Program
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
	m.encoder = nn.NewProgram(ps, m.buildEncode, nn.Hooks{})
	m.decoder = nn.NewProgram(ps, m.buildDecode, nn.Hooks{})
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
	return errors.Join(m.encoder.Close(), m.decoder.Close())
}

// EncodeGraph adds the encoder and quant_conv to a graph: images x [B, in, H, W] give
// the Gaussian's moments [B, 2·latent, H/f, W/f], the mean's channels first and then
// the (unclamped) log-variance's. The builder's attention hooks, if any, see the mid
// attention as module "encoder.mid_block.attentions.0".
func (m *Model) EncodeGraph(b *nn.Builder, x *G.Node) (*G.Node, error) {
	if err := m.checkInput("image", x.Shape(), m.s.inChannels, m.DownFactor()); err != nil {
		return nil, err
	}
	h, err := m.Encoder.Forward(b, x)
	if err != nil {
		return nil, fmt.Errorf("vae: %w", err)
	}
	if m.QuantConv != nil {
		if h, err = m.QuantConv.Forward(b, h); err != nil {
			return nil, fmt.Errorf("vae: quant_conv: %w", err)
		}
	}
	return h, nil
}

// DecodeGraph adds post_quant_conv and the decoder to a graph: latents z [B, latent, h, w]
// (already divided by ScalingFactor) give images [B, out, h·f, w·f]. Every op has a
// gradient, so a caller may differentiate through it. The builder's attention hooks, if
// any, see the mid attention as module "decoder.mid_block.attentions.0".
func (m *Model) DecodeGraph(b *nn.Builder, z *G.Node) (*G.Node, error) {
	if err := m.checkInput("latent", z.Shape(), m.s.latentChannels, 1); err != nil {
		return nil, err
	}
	h := z
	var err error
	if m.PostQuantConv != nil {
		if h, err = m.PostQuantConv.Forward(b, h); err != nil {
			return nil, fmt.Errorf("vae: post_quant_conv: %w", err)
		}
	}
	if h, err = m.Decoder.Forward(b, h); err != nil {
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

func (m *Model) buildEncode(b *nn.Builder) error {
	x, err := b.Input("image")
	if err != nil {
		return err
	}
	moments, err := m.EncodeGraph(b, x)
	if err != nil {
		return err
	}
	b.Output("moments", moments)
	return nil
}

func (m *Model) buildDecode(b *nn.Builder) error {
	z, err := b.Input("latent")
	if err != nil {
		return err
	}
	img, err := m.DecodeGraph(b, z)
	if err != nil {
		return err
	}
	b.Output("image", img)
	return nil
}

// Encode runs the encoder on images [B, in_channels, H, W] in [-1, 1] (H and W multiples
// of DownFactor) and returns the latent distribution, unscaled.
func (m *Model) Encode(images *tensor.Dense) (*Distribution, error) {
	if err := m.checkInput("image", images.Shape(), m.s.inChannels, m.DownFactor()); err != nil {
		return nil, err
	}
	r, err := m.encoder.Run(map[string]*tensor.Dense{"image": images})
	if err != nil {
		return nil, fmt.Errorf("vae: encode: %w", err)
	}
	return newDistribution(r.Outputs["moments"])
}

// Decode runs the decoder on latents [B, latent_channels, h, w], which the caller has
// already divided by ScalingFactor, and returns images [B, out_channels, h·f, w·f]
// (nominally in [-1, 1], not clamped).
func (m *Model) Decode(latents *tensor.Dense) (*tensor.Dense, error) {
	if err := m.checkInput("latent", latents.Shape(), m.s.latentChannels, 1); err != nil {
		return nil, err
	}
	r, err := m.decoder.Run(map[string]*tensor.Dense{"latent": latents})
	if err != nil {
		return nil, fmt.Errorf("vae: decode: %w", err)
	}
	return r.Outputs["image"], nil
}
