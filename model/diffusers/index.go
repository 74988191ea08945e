package diffusers

import (
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
)

// IndexFile is the root file of a diffusers model folder.
const IndexFile = "model_index.json"

// Component is one entry of model_index.json: the library and class that load it.
type Component struct {
	Name    string
	Library string // "diffusers" or "transformers"
	Class   string // e.g. "UNet2DConditionModel", "CLIPTextModelWithProjection"
}

// ModelIndex is the parsed model_index.json.
type ModelIndex struct {
	ClassName        string // _class_name, e.g. "StableDiffusionXLPipeline"
	DiffusersVersion string // _diffusers_version
	// ForceZerosForEmptyPrompt is the SDXL pipeline flag: an empty negative prompt is
	// encoded as all-zero embeddings. False when absent.
	ForceZerosForEmptyPrompt bool
	// Components sorted by name; entries given as [null, null] (absent optional
	// components) are left out.
	Components []Component
	// Extra holds the other non-component keys, undecoded.
	Extra map[string]json.RawMessage
}

// Component returns the named component.
func (ix *ModelIndex) Component(name string) (Component, bool) {
	for _, c := range ix.Components {
		if c.Name == name {
			return c, true
		}
	}
	return Component{}, false
}

// ReadModelIndex reads dir/model_index.json.
func ReadModelIndex(dir string) (*ModelIndex, error) {
	path := filepath.Join(dir, IndexFile)
	data, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("diffusers: %w", err)
	}
	ix, err := parseModelIndex(data)
	if err != nil {
		return nil, fmt.Errorf("diffusers: %s: %w", path, err)
	}
	return ix, nil
}

func parseModelIndex(data []byte) (*ModelIndex, error) {
	var raw map[string]json.RawMessage
	if err := json.Unmarshal(data, &raw); err != nil {
		return nil, err
	}
	if raw == nil {
		return nil, fmt.Errorf("not a JSON object")
	}
	ix := &ModelIndex{}
	for _, key := range sortedKeys(raw) {
		v := raw[key]
		var dst any
		switch key {
		case "_class_name":
			dst = &ix.ClassName
		case "_diffusers_version":
			dst = &ix.DiffusersVersion
		case "force_zeros_for_empty_prompt":
			dst = &ix.ForceZerosForEmptyPrompt
		}
		if dst != nil {
			if err := json.Unmarshal(v, dst); err != nil {
				return nil, fmt.Errorf("field %q: %w", key, err)
			}
			continue
		}
		// A component is a two-element [library, class] array; anything else is a
		// pipeline option we keep undecoded.
		var pair []*string
		if json.Unmarshal(v, &pair) == nil && len(pair) == 2 {
			if pair[0] == nil || pair[1] == nil {
				continue
			}
			ix.Components = append(ix.Components, Component{Name: key, Library: *pair[0], Class: *pair[1]})
			continue
		}
		if ix.Extra == nil {
			ix.Extra = map[string]json.RawMessage{}
		}
		ix.Extra[key] = v
	}
	return ix, nil
}
