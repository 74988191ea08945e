package blend

import (
	"bytes"
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"strings"
)

// InferenceConfig is the reference code's inference_dict file (inference_dict/*.json):
// a JSON list whose first object holds the prompt, concept1…conceptN (each a
// concept_bank path and a class_noun) and the blending settings. A bare object is
// accepted too.
type InferenceConfig struct {
	Prompt            string
	BatchSize         int
	NumInferenceSteps int
	Options           Options
	Concepts          []ConfigConcept
	// Set records which optional keys the file gave, so command-line flags fill only
	// the rest.
	Set map[string]bool
}

// ConfigConcept is one conceptN entry.
type ConfigConcept struct {
	ClassNoun string
	// Bank is the concept_bank path, resolved against the config file's folder when
	// relative and not found from the working directory.
	Bank string
}

// ReadInferenceConfig reads an inference_dict file.
func ReadInferenceConfig(path string) (*InferenceConfig, error) {
	data, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("blend: config: %w", err)
	}
	c, err := ParseInferenceConfig(data)
	if err != nil {
		return nil, fmt.Errorf("blend: config %s: %w", path, err)
	}
	for i := range c.Concepts {
		b := c.Concepts[i].Bank
		if _, err := os.Stat(b); err != nil && !filepath.IsAbs(b) {
			if alt := filepath.Join(filepath.Dir(path), b); fileExists(alt) {
				c.Concepts[i].Bank = alt
			}
		}
	}
	return c, nil
}

func fileExists(p string) bool {
	_, err := os.Stat(p)
	return err == nil
}

// ParseInferenceConfig parses inference_dict JSON.
func ParseInferenceConfig(data []byte) (*InferenceConfig, error) {
	data = bytes.TrimSpace(data)
	var raw map[string]json.RawMessage
	if len(data) > 0 && data[0] == '[' {
		var list []map[string]json.RawMessage
		if err := json.Unmarshal(data, &list); err != nil {
			return nil, fmt.Errorf("not a JSON list of objects: %w", err)
		}
		if len(list) == 0 {
			return nil, fmt.Errorf("the list is empty (the reference reads its first object)")
		}
		raw = list[0]
	} else if err := json.Unmarshal(data, &raw); err != nil {
		return nil, fmt.Errorf("not a JSON object: %w", err)
	}
	c := &InferenceConfig{Options: DefaultOptions(), Set: map[string]bool{}}
	field := func(key string, dst any) error {
		v, ok := raw[key]
		if !ok {
			return nil
		}
		if err := json.Unmarshal(v, dst); err != nil {
			return fmt.Errorf("field %q: %w", key, err)
		}
		c.Set[key] = true
		return nil
	}
	var getBank bool
	fields := []struct {
		key string
		dst any
	}{
		{"prompt", &c.Prompt},
		{"batch_size", &c.BatchSize},
		{"num_inference_steps", &c.NumInferenceSteps},
		{"blending_start", &c.Options.BlendingStart},
		{"blending_guidance", &c.Options.Guidance},
		{"self_rectification", &c.Options.Rectification},
		{"guidance_steps", &c.Options.GuidanceSteps},
		{"guidance_stepsize", &c.Options.GuidanceStepsize},
		{"rectification_start", &c.Options.RectificationStart},
		{"creg", &c.Options.CReg},
		{"get_concept_bank", &getBank},
	}
	for _, f := range fields {
		if err := field(f.key, f.dst); err != nil {
			return nil, err
		}
	}
	if getBank {
		return nil, fmt.Errorf("get_concept_bank is true: this is an extraction config (the trainer's extract makes entries), not an inference one")
	}
	if strings.TrimSpace(c.Prompt) == "" {
		return nil, fmt.Errorf("field \"prompt\" is missing or empty")
	}
	n := -1
	if v, ok := raw["concept_num"]; ok {
		if err := json.Unmarshal(v, &n); err != nil || n < 0 {
			return nil, fmt.Errorf("field \"concept_num\" is %s, want a non-negative integer", v)
		}
	}
	for i := 1; n < 0 || i <= n; i++ {
		key := "concept" + strconv.Itoa(i)
		v, ok := raw[key]
		if !ok {
			if n >= 0 {
				return nil, fmt.Errorf("concept_num is %d but %q is missing", n, key)
			}
			break
		}
		var cc struct {
			ConceptBank string `json:"concept_bank"`
			ClassNoun   string `json:"class_noun"`
		}
		if err := json.Unmarshal(v, &cc); err != nil {
			return nil, fmt.Errorf("field %q: %w", key, err)
		}
		if cc.ConceptBank == "" || strings.TrimSpace(cc.ClassNoun) == "" {
			return nil, fmt.Errorf("field %q needs concept_bank and class_noun", key)
		}
		c.Concepts = append(c.Concepts, ConfigConcept{ClassNoun: cc.ClassNoun, Bank: cc.ConceptBank})
	}
	if c.BatchSize < 0 || c.NumInferenceSteps < 0 {
		return nil, fmt.Errorf("batch_size %d and num_inference_steps %d must not be negative", c.BatchSize, c.NumInferenceSteps)
	}
	if err := c.Options.Check(); err != nil {
		return nil, err
	}
	return c, nil
}

// LoadConcept reads a concept's bank: a safetensors entry, or a reference .pt bank.
func LoadConcept(classNoun, path string) (*Entry, error) {
	var e *Entry
	var err error
	if strings.HasSuffix(strings.ToLower(path), ".safetensors") {
		e, err = ReadEntry(path)
	} else {
		e, err = ReadTorchBank(path, classNoun)
	}
	if err != nil {
		return nil, err
	}
	// The prompt's noun decides the slot; an entry may serve a synonym with the same
	// token count (New checks the count).
	return e, nil
}
