package diffusers

import (
	"path/filepath"
	"reflect"
	"strings"
	"testing"
)

func TestTinySDXLConfigs(t *testing.T) {
	m, err := Open(tinySDXL(t))
	if err != nil {
		t.Fatal(err)
	}
	ix := m.Index
	if ix.ClassName != "StableDiffusionXLPipeline" || ix.DiffusersVersion != "0.21.4" || !ix.ForceZerosForEmptyPrompt {
		t.Errorf("index = %+v", ix)
	}
	var names []string
	for _, c := range ix.Components {
		names = append(names, c.Name)
	}
	want := []string{"scheduler", "text_encoder", "text_encoder_2", "tokenizer", "tokenizer_2", "unet", "vae"}
	if !reflect.DeepEqual(names, want) {
		t.Errorf("components %v, want %v", names, want)
	}
	if c, _ := ix.Component("text_encoder_2"); c.Library != "transformers" || c.Class != "CLIPTextModelWithProjection" {
		t.Errorf("text_encoder_2 = %+v", c)
	}

	u, err := m.UNetConfig()
	if err != nil {
		t.Fatal(err)
	}
	heads, _ := u.HeadsPerBlock()
	layers, _ := u.TransformerLayers()
	resnets, _ := u.Layers()
	xdim, _ := u.CrossAttentionDims()
	for _, c := range []struct {
		field     string
		got, want any
	}{
		{"block_out_channels", u.BlockOutChannels, []int{32, 64}},
		{"heads", heads, []int{2, 4}},
		{"transformer layers", layers, []int{1, 2}},
		{"layers_per_block", resnets, []int{2, 2}},
		{"cross_attention_dim", xdim, []int{64, 64}},
		{"down_block_types", u.DownBlockTypes, []string{"DownBlock2D", "CrossAttnDownBlock2D"}},
		{"up_block_types", u.UpBlockTypes, []string{"CrossAttnUpBlock2D", "UpBlock2D"}},
		{"mid_block_type", *u.MidBlockType, "UNetMidBlock2DCrossAttn"},
		{"addition_embed_type", *u.AdditionEmbedType, "text_time"},
		{"addition_time_embed_dim", *u.AdditionTimeEmbedDim, 8},
		{"projection_class_embeddings_input_dim", *u.ProjectionClassEmbeddingsInputDim, 80},
		{"use_linear_projection", u.UseLinearProjection, true},
		{"norm_num_groups", *u.NormNumGroups, 32},
		{"norm_eps", u.NormEps, 1e-5},
		{"flip_sin_to_cos", u.FlipSinToCos, true},
		{"sample_size", []int(u.SampleSize), []int{32}},
		{"time embed dim", u.TimeEmbedDim(), 128},
		{"class_embed_type", u.ClassEmbedType, (*string)(nil)},
		{"num_attention_heads", len(u.NumAttentionHeads), 0},
		{"extra", len(u.Extra), 0},
	} {
		if !reflect.DeepEqual(c.got, c.want) {
			t.Errorf("unet %s = %v, want %v", c.field, c.got, c.want)
		}
	}

	v, err := m.VAEConfig()
	if err != nil {
		t.Fatal(err)
	}
	if v.ScalingFactor != 0.18215 || v.LatentChannels != 4 || !reflect.DeepEqual(v.BlockOutChannels, []int{32, 64}) ||
		v.LayersPerBlock != 1 || v.NormNumGroups != 32 || !v.ForceUpcast || v.SampleSize[0] != 128 {
		t.Errorf("vae config = %+v", v)
	}

	for _, name := range []string{"text_encoder", "text_encoder_2"} {
		c, err := m.TextEncoderConfig(name)
		if err != nil {
			t.Fatal(err)
		}
		if c.HiddenSize != 32 || c.IntermediateSize != 37 || c.NumAttentionHeads != 4 || c.NumHiddenLayers != 5 ||
			c.HiddenAct != "gelu" || c.ProjectionDim != 32 || c.VocabSize != 49408 || c.MaxPositionEmbeddings != 77 ||
			c.LayerNormEps != 1e-5 || c.BOSTokenID != 0 || c.EOSTokenID != 2 || c.PadTokenID != 1 {
			t.Errorf("%s config = %+v", name, c)
		}
		if got, want := c.WithProjection(), name == "text_encoder_2"; got != want {
			t.Errorf("%s WithProjection = %v, want %v", name, got, want)
		}
	}

	s, err := m.SchedulerConfig()
	if err != nil {
		t.Fatal(err)
	}
	if s.ClassName != "EulerDiscreteScheduler" || s.BetaStart != 0.00085 || s.BetaEnd != 0.012 ||
		s.BetaSchedule != "scaled_linear" || s.StepsOffset != 1 || s.TimestepSpacing != "leading" ||
		s.NumTrainTimesteps != 1000 || s.PredictionType != "epsilon" || s.InterpolationType != "linear" ||
		s.UseKarrasSigmas || s.TrainedBetas != nil {
		t.Errorf("scheduler config = %+v", s)
	}
}

// TestConfigDefaultsAndUnknownKeys: absent keys take the library defaults, unknown
// keys are kept, a per-block value given as a single int expands.
func TestConfigDefaultsAndUnknownKeys(t *testing.T) {
	dir := t.TempDir()
	p := filepath.Join(dir, "config.json")
	writeText(t, p, `{"block_out_channels":[320,640,1280],"down_block_types":["DownBlock2D","CrossAttnDownBlock2D","CrossAttnDownBlock2D"],
		"up_block_types":["CrossAttnUpBlock2D","CrossAttnUpBlock2D","UpBlock2D"],"attention_head_dim":[5,10,20],
		"transformer_layers_per_block":[1,2,10],"cross_attention_dim":2048,"future_option":{"x":1}}`)
	u, err := ReadUNetConfig(p)
	if err != nil {
		t.Fatal(err)
	}
	if u.NormEps != 1e-5 || u.ActFn != "silu" || u.ConvInKernel != 3 || u.InChannels != 4 || u.TimeEmbeddingType != "positional" {
		t.Errorf("defaults not applied: %+v", u)
	}
	if xd, _ := u.CrossAttentionDims(); !reflect.DeepEqual(xd, []int{2048, 2048, 2048}) {
		t.Errorf("cross_attention_dims = %v", xd)
	}
	if u.TimeEmbedDim() != 1280 {
		t.Errorf("time embed dim = %d, want 1280", u.TimeEmbedDim())
	}
	if string(u.Extra["future_option"]) != `{"x":1}` || len(u.Extra) != 1 {
		t.Errorf("extra = %v", u.Extra)
	}

	writeText(t, p, `{"_class_name":"DDIMScheduler"}`)
	s, err := ReadSchedulerConfig(p)
	if err != nil {
		t.Fatal(err)
	}
	if s.TimestepSpacing != "leading" || !s.ClipSample || !s.SetAlphaToOne || s.BetaSchedule != "linear" {
		t.Errorf("DDIM defaults = %+v", s)
	}
	writeText(t, p, `{"_class_name":"EulerDiscreteScheduler"}`)
	if s, err = ReadSchedulerConfig(p); err != nil || s.TimestepSpacing != "linspace" {
		t.Errorf("Euler default spacing = %q, %v; want linspace", s.TimestepSpacing, err)
	}

	writeText(t, p, `{"model_type":"clip","text_config":{"hidden_size":64,"num_attention_heads":4,"hidden_act":"gelu"}}`)
	c, err := ReadCLIPTextConfig(p)
	if err != nil {
		t.Fatal(err)
	}
	if c.HiddenSize != 64 || c.HiddenAct != "gelu" || c.IntermediateSize != 2048 {
		t.Errorf("nested text_config = %+v", c)
	}
}

func TestConfigErrorsNameTheField(t *testing.T) {
	dir := t.TempDir()
	p := filepath.Join(dir, "config.json")
	for _, tc := range []struct {
		name, json, want string
		read             func(string) error
	}{
		{"unet wrong type", `{"in_channels":"four"}`, `"in_channels"`, unetReader},
		{"unet list lengths", `{"block_out_channels":[32,64]}`, "block_out_channels has 2 entries", unetReader},
		{"unet heads per block", `{"attention_head_dim":[1,2,3]}`, "attention_head_dim has 3 entries", unetReader},
		{"unet groups", `{"block_out_channels":[30,64,128,128]}`, "norm_num_groups", unetReader},
		{"unet bad int list", `{"attention_head_dim":"x"}`, "attention_head_dim", unetReader},
		{"not an object", `[1]`, "", unetReader},
		{"bad json", `{"in_channels":`, "", unetReader},
		{"vae scaling", `{"scaling_factor":0}`, "scaling_factor", vaeReader},
		{"clip act", `{"hidden_act":"relu"}`, `hidden_act "relu"`, clipReader},
		{"clip heads", `{"hidden_size":30,"num_attention_heads":4}`, "not divisible", clipReader},
		{"scheduler schedule", `{"beta_schedule":"cosine"}`, `beta_schedule "cosine"`, schedReader},
		{"scheduler betas", `{"trained_betas":[0.1],"num_train_timesteps":10}`, "trained_betas has 1", schedReader},
	} {
		t.Run(tc.name, func(t *testing.T) {
			writeText(t, p, tc.json)
			err := tc.read(p)
			if err == nil {
				t.Fatal("read succeeded")
			}
			if !strings.Contains(err.Error(), p) || !strings.Contains(err.Error(), tc.want) {
				t.Errorf("error %q does not name %s and %q", err, p, tc.want)
			}
		})
	}
}

func unetReader(p string) error  { _, err := ReadUNetConfig(p); return err }
func vaeReader(p string) error   { _, err := ReadVAEConfig(p); return err }
func clipReader(p string) error  { _, err := ReadCLIPTextConfig(p); return err }
func schedReader(p string) error { _, err := ReadSchedulerConfig(p); return err }

func TestModelIndexParsing(t *testing.T) {
	ix, err := parseModelIndex([]byte(`{"_class_name":"X","feature_extractor":[null,null],"unet":["diffusers","UNet2DConditionModel"],
		"requires_safety_checker":false,"vae":["diffusers","AutoencoderKL"]}`))
	if err != nil {
		t.Fatal(err)
	}
	if len(ix.Components) != 2 || ix.Components[0].Name != "unet" || ix.Components[1].Name != "vae" {
		t.Errorf("components = %+v", ix.Components)
	}
	if string(ix.Extra["requires_safety_checker"]) != "false" {
		t.Errorf("extra = %v", ix.Extra)
	}
	if _, err := parseModelIndex([]byte(`{"force_zeros_for_empty_prompt":"yes"}`)); err == nil ||
		!strings.Contains(err.Error(), "force_zeros_for_empty_prompt") {
		t.Errorf("bad flag: %v", err)
	}

	dir := t.TempDir()
	writeText(t, filepath.Join(dir, IndexFile), `{"unet":["diffusers","UNet2DConditionModel"]}`)
	if _, err := Open(dir); err == nil || !strings.Contains(err.Error(), `"unet"`) {
		t.Errorf("Open with a missing component folder: %v", err)
	}
	if _, err := Open(t.TempDir()); err == nil || !strings.Contains(err.Error(), IndexFile) {
		t.Errorf("Open without model_index.json: %v", err)
	}
}
