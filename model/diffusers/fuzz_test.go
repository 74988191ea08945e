package diffusers

import (
	"testing"
)

// FuzzConfigs feeds arbitrary bytes to the model-index and config decoders: they must
// return an error or a config that passed validation, never panic.
func FuzzConfigs(f *testing.F) {
	for _, s := range []string{
		`{"_class_name":"StableDiffusionXLPipeline","unet":["diffusers","UNet2DConditionModel"],"force_zeros_for_empty_prompt":true}`,
		`{"attention_head_dim":[5,10,20],"block_out_channels":[320,640,1280],"down_block_types":["a","b","c"],"up_block_types":["a","b","c"]}`,
		`{"attention_head_dim":8,"num_attention_heads":null,"only_cross_attention":[true,false,true,false]}`,
		`{"_class_name":"DDIMScheduler","trained_betas":[0.1,0.2],"num_train_timesteps":2}`,
		`{"model_type":"clip","text_config":{"hidden_size":8,"num_attention_heads":2}}`,
		`null`, `[]`, `{"sample_size":[64,96]}`,
	} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		parseModelIndex(data)
		u := DefaultUNetConfig()
		if _, err := decodeJSON(data, &u); err == nil && u.Validate() == nil {
			for _, get := range []func() ([]int, error){u.HeadsPerBlock, u.TransformerLayers, u.Layers, u.CrossAttentionDims} {
				if v, err := get(); err != nil || len(v) != len(u.DownBlockTypes) {
					t.Fatalf("validated config gives %v, %v", v, err)
				}
			}
			u.TimeEmbedDim()
		}
		v := DefaultVAEConfig()
		if _, err := decodeJSON(data, &v); err == nil {
			v.Validate()
		}
		c := DefaultCLIPTextConfig()
		if _, err := decodeJSON(data, &c); err == nil {
			c.Validate()
			c.WithProjection()
		}
		s := DefaultSchedulerConfig("EulerDiscreteScheduler")
		if _, err := decodeJSON(data, &s); err == nil {
			s.Validate()
		}
	})
}
