package base

import (
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"strings"

	"github.com/latexblend/latexblend/model/safetensors"
	"github.com/latexblend/latexblend/nn"
	"github.com/latexblend/latexblend/shapes"
)

// modelIndex is the folder's model_index.json: SDXL's pipeline class and components.
var modelIndex = map[string]any{
	"_class_name":                  "StableDiffusionXLPipeline",
	"_diffusers_version":           "0.21.4",
	"force_zeros_for_empty_prompt": true,
	"scheduler":                    []string{"diffusers", "EulerDiscreteScheduler"},
	"text_encoder":                 []string{"transformers", "CLIPTextModel"},
	"text_encoder_2":               []string{"transformers", "CLIPTextModelWithProjection"},
	"tokenizer":                    []string{"transformers", "CLIPTokenizer"},
	"tokenizer_2":                  []string{"transformers", "CLIPTokenizer"},
	"unet":                         []string{"diffusers", "UNet2DConditionModel"},
	"vae":                          []string{"diffusers", "AutoencoderKL"},
}

// writeJSON writes v as indented JSON with a trailing newline.
func writeJSON(path string, v any) error {
	data, err := json.MarshalIndent(v, "", "  ")
	if err != nil {
		return fmt.Errorf("encoding %s: %w", path, err)
	}
	if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
		return err
	}
	return os.WriteFile(path, append(data, '\n'), 0o644)
}

// writeStatic writes the parts of the folder that training does not change:
// model_index.json, the scheduler config and both tokenizers (the shapes world's BPE
// files; tokenizer_2 pads with "!" as SDXL's does).
func writeStatic(dir string) error {
	if err := writeJSON(filepath.Join(dir, "model_index.json"), modelIndex); err != nil {
		return err
	}
	sc := SchedulerConfig()
	sched := map[string]any{
		"_class_name": sc.ClassName, "_diffusers_version": sc.DiffusersVersion,
		"num_train_timesteps": sc.NumTrainTimesteps, "beta_start": sc.BetaStart, "beta_end": sc.BetaEnd,
		"beta_schedule": sc.BetaSchedule, "trained_betas": nil, "prediction_type": sc.PredictionType,
		"timestep_spacing": sc.TimestepSpacing, "steps_offset": sc.StepsOffset,
		"interpolation_type": "linear", "use_karras_sigmas": false,
	}
	if err := writeJSON(filepath.Join(dir, "scheduler", "scheduler_config.json"), sched); err != nil {
		return err
	}
	for _, tk := range []struct{ name, pad string }{{"tokenizer", "<|endoftext|>"}, {"tokenizer_2", "!"}} {
		td := filepath.Join(dir, tk.name)
		if err := shapes.WriteTokenizer(td); err != nil {
			return err
		}
		cfg := map[string]any{
			"bos_token": "<|startoftext|>", "eos_token": "<|endoftext|>", "unk_token": "<|endoftext|>",
			"pad_token": tk.pad, "model_max_length": maxTokens, "tokenizer_class": "CLIPTokenizer",
			"clean_up_tokenization_spaces": true, "errors": "replace",
		}
		if err := writeJSON(filepath.Join(td, "tokenizer_config.json"), cfg); err != nil {
			return err
		}
		special := map[string]any{"bos_token": "<|startoftext|>", "eos_token": "<|endoftext|>",
			"unk_token": "<|endoftext|>", "pad_token": tk.pad}
		if err := writeJSON(filepath.Join(td, "special_tokens_map.json"), special); err != nil {
			return err
		}
	}
	return nil
}

// writeWeights writes the parameters of ps whose names start with prefix (the prefix
// and its dot stripped: checkpoint keys) as float32 safetensors.
func writeWeights(path string, ps *nn.Params, prefix string, meta map[string]string) error {
	var ts []safetensors.Tensor
	for _, name := range ps.Names() {
		key := name
		if prefix != "" {
			if !strings.HasPrefix(name, prefix+".") {
				continue
			}
			key = strings.TrimPrefix(name, prefix+".")
		}
		p := ps.Get(name)
		ts = append(ts, safetensors.Tensor{Name: key, Shape: []int(p.Shape()),
			F32: append([]float32(nil), p.Value.Data().([]float32)...)})
	}
	if len(ts) == 0 {
		return fmt.Errorf("writing %s: no parameters under %q", path, prefix)
	}
	if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
		return err
	}
	return safetensors.WriteFile(path, ts, meta)
}

// writeModel writes every trained component of m into dir (configs and weights).
func writeModel(dir string, m *model, meta map[string]string) error {
	uc := m.unet.Config()
	uc.ClassName = "UNet2DConditionModel"
	if err := writeJSON(filepath.Join(dir, "unet", "config.json"), uc); err != nil {
		return err
	}
	if err := writeWeights(filepath.Join(dir, "unet", "diffusion_pytorch_model.safetensors"), m.unet.Params(), "", meta); err != nil {
		return err
	}
	if err := writeJSON(filepath.Join(dir, "vae", "config.json"), m.vae.Config); err != nil {
		return err
	}
	if err := writeWeights(filepath.Join(dir, "vae", "diffusion_pytorch_model.safetensors"), m.vae.Params, "", meta); err != nil {
		return err
	}
	for _, te := range []struct {
		name string
		cfg  any
	}{{textEncoder1, m.te1.Config}, {textEncoder2, m.te2.Config}} {
		if err := writeJSON(filepath.Join(dir, te.name, "config.json"), te.cfg); err != nil {
			return err
		}
		if err := writeWeights(filepath.Join(dir, te.name, "model.safetensors"), m.text, te.name, meta); err != nil {
			return err
		}
	}
	return nil
}
