package sdxl

import (
	"encoding/json"
	"fmt"
	"strconv"
	"strings"
	"unicode/utf8"
)

// PNG text keywords of generated images.
const (
	// MetadataKey holds ImageMetadata as JSON (ASCII, non-ASCII characters escaped).
	MetadataKey = "latexblend"
	// ParametersKey holds a human-readable summary in the layout other Stable
	// Diffusion tools write under the same key.
	ParametersKey = "parameters"
	// MetadataFormat versions the JSON layout.
	MetadataFormat = "latexblend.image/v1"
)

// ImageMetadata records everything needed to regenerate one image: the generation
// parameters, the model, the program version and where the image sits in its batch.
type ImageMetadata struct {
	Format  string `json:"format"`
	Version string `json:"latexblend_version"`
	// Model is the base model's identity digest (diffusers.Identity) and the folder it
	// was loaded from (informational; the identity is what must match).
	ModelIdentity string `json:"model_identity"`
	ModelDir      string `json:"model_dir,omitempty"`
	// ModelVariant is the weight-file variant that was loaded ("" for the plain files).
	ModelVariant string `json:"model_variant,omitempty"`
	Params
	// BatchIndex is the image's row in its batch; ImageSeed = Seed + BatchIndex is the
	// seed that regenerates it alone (NumImages 1), see NoiseSource.
	BatchIndex int    `json:"batch_index"`
	ImageSeed  uint64 `json:"image_seed"`
	// InitLatents names the explicit initial latents, when they were given.
	InitLatents *LatentsRef `json:"init_latents,omitempty"`
	// Extensions carry the parameters of features layered on the pipeline (LatexBlend's
	// concepts and modes), keyed by feature.
	Extensions map[string]json.RawMessage `json:"extensions,omitempty"`
}

// LatentsRef identifies initial latents read from a file.
type LatentsRef struct {
	File   string `json:"file"`
	SHA256 string `json:"sha256"` // of the file's bytes
	Row    int    `json:"row"`    // the image's row of the file's latents tensor
}

// TextChunks returns the PNG text entries of m: MetadataKey (JSON) and ParametersKey.
func (m *ImageMetadata) TextChunks() ([]TextChunk, error) {
	js, err := json.Marshal(m)
	if err != nil {
		return nil, fmt.Errorf("sdxl: image metadata: %w", err)
	}
	return []TextChunk{{Key: MetadataKey, Text: asciiJSON(js)}, {Key: ParametersKey, Text: m.ParametersText()}}, nil
}

// ParametersText is the human-readable summary: the prompt, the negative prompt, then
// one line of "Name: value" pairs.
func (m *ImageMetadata) ParametersText() string {
	var sb strings.Builder
	sb.WriteString(m.Prompt)
	sb.WriteByte('\n')
	if m.NegativePrompt != nil {
		fmt.Fprintf(&sb, "Negative prompt: %s\n", *m.NegativePrompt)
	}
	fields := []string{
		"Steps: " + strconv.Itoa(m.Steps),
		"Sampler: " + string(m.Scheduler),
		"CFG scale: " + strconv.FormatFloat(m.GuidanceScale, 'g', -1, 64),
		"Seed: " + strconv.FormatUint(m.ImageSeed, 10),
		fmt.Sprintf("Size: %dx%d", m.Width, m.Height),
		"Model hash: " + shortHash(m.ModelIdentity),
	}
	if m.NumImages > 1 {
		fields = append(fields, fmt.Sprintf("Batch: %d of %d (seed %d)", m.BatchIndex+1, m.NumImages, m.Seed))
	}
	if m.InitLatents != nil {
		fields = append(fields, fmt.Sprintf("Init latents: %s row %d (sha256 %s)", m.InitLatents.File, m.InitLatents.Row, shortHash(m.InitLatents.SHA256)))
	}
	fields = append(fields, "Version: latexblend "+m.Version)
	sb.WriteString(strings.Join(fields, ", "))
	return sb.String()
}

func shortHash(h string) string {
	if len(h) > 12 {
		return h[:12]
	}
	return h
}

// ParseImageMetadata reads the MetadataKey entry of a PNG's text entries.
func ParseImageMetadata(texts []TextChunk) (*ImageMetadata, error) {
	js, ok := LookupText(texts, MetadataKey)
	if !ok {
		return nil, fmt.Errorf("sdxl: image has no %q text entry", MetadataKey)
	}
	var m ImageMetadata
	if err := json.Unmarshal([]byte(js), &m); err != nil {
		return nil, fmt.Errorf("sdxl: image metadata %q: %w", MetadataKey, err)
	}
	if m.Format != MetadataFormat {
		return nil, fmt.Errorf("sdxl: image metadata format %q, want %q", m.Format, MetadataFormat)
	}
	return &m, nil
}

// asciiJSON escapes every non-ASCII character of encoded JSON as \uXXXX (surrogate
// pairs above U+FFFF); JSON output has such characters only inside strings, where the
// escape means the same character.
func asciiJSON(js []byte) string {
	var sb strings.Builder
	for len(js) > 0 {
		r, n := utf8.DecodeRune(js)
		js = js[n:]
		switch {
		case r < utf8.RuneSelf:
			sb.WriteRune(r)
		case r > 0xffff:
			r -= 0x10000
			fmt.Fprintf(&sb, `\u%04x\u%04x`, 0xd800+(r>>10), 0xdc00+(r&0x3ff))
		default:
			fmt.Fprintf(&sb, `\u%04x`, r)
		}
	}
	return sb.String()
}
