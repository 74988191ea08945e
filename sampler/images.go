package sampler

import (
	"context"
	"encoding/json"
	"fmt"

	"google.golang.org/protobuf/encoding/protojson"
	"gorgonia.org/tensor"

	"github.com/latexblend/latexblend/model/sdxl"
	"github.com/latexblend/latexblend/model/vae"
	pb "github.com/latexblend/latexblend/proto/latexblend/v1"
)

// ExtensionKey names the sampler's part of an image's metadata extensions: the full
// request (defaults filled), the entries used and the node that ran it.
const ExtensionKey = "sampler"

// ImageExtension is the JSON stored under ExtensionKey.
type ImageExtension struct {
	Request   json.RawMessage      `json:"request"`
	Concepts  []ImageConceptRecord `json:"concepts,omitempty"`
	Mode      string               `json:"mode"`
	SamplerID string               `json:"sampler_id"`
}

// ImageConceptRecord is one concept an image was made with.
type ImageConceptRecord struct {
	ClassNoun string `json:"class_noun"`
	Concept   string `json:"concept"`
	Digest    string `json:"digest"`
}

// encodeImages decodes a request's latents and encodes one PNG per image with every
// parameter in its text chunks.
func (s *Service) encodeImages(ctx context.Context, pl *plan, resolved []*pb.ResolvedConcept, latents *tensor.Dense) ([][]byte, error) {
	if err := ctx.Err(); err != nil {
		return nil, fmt.Errorf("stopped before decoding: %w", err)
	}
	decoded, err := s.pipeline.Decode(latents)
	if err != nil {
		return nil, err
	}
	imgs, err := vae.ToImages(decoded)
	if err != nil {
		return nil, err
	}
	ext, err := imageExtensions(pl, resolved, s.node.ID())
	if err != nil {
		return nil, err
	}
	size := sdxl.SizeConditioning{OriginalSize: [2]int{pl.height, pl.width}, TargetSize: [2]int{pl.height, pl.width}}
	params := sdxl.Params{
		Prompt: pl.req.Prompt, NegativePrompt: pl.negative, Steps: pl.steps, GuidanceScale: pl.scale,
		Height: pl.height, Width: pl.width, Size: size, NegativeSize: size, Scheduler: pl.kind,
		NumImages: pl.images, Seed: pl.seed,
	}
	out := make([][]byte, len(imgs))
	for i, img := range imgs {
		md := &sdxl.ImageMetadata{Format: sdxl.MetadataFormat, Version: s.cfg.Node.Version, ModelIdentity: pl.identity,
			ModelDir: s.pipeline.Dir, ModelVariant: s.cfg.Variant, Params: params, BatchIndex: i, ImageSeed: pl.seed + uint64(i),
			Extensions: ext}
		texts, err := md.TextChunks()
		if err != nil {
			return nil, err
		}
		if out[i], err = sdxl.EncodePNG(img, texts); err != nil {
			return nil, err
		}
	}
	return out, nil
}

func imageExtensions(pl *plan, resolved []*pb.ResolvedConcept, samplerID string) (map[string]json.RawMessage, error) {
	reqJSON, err := protojson.Marshal(pl.req)
	if err != nil {
		return nil, fmt.Errorf("image metadata: %w", err)
	}
	e := ImageExtension{Request: reqJSON, Mode: pl.mode, SamplerID: samplerID}
	for _, r := range resolved {
		e.Concepts = append(e.Concepts, ImageConceptRecord{ClassNoun: r.ClassNoun, Concept: r.Concept, Digest: r.Digest})
	}
	out := map[string]json.RawMessage{}
	if out[ExtensionKey], err = json.Marshal(e); err != nil {
		return nil, err
	}
	if pl.blender != nil {
		if out["blend"], err = json.Marshal(pl.blender.Metadata()); err != nil {
			return nil, err
		}
	}
	return out, nil
}
