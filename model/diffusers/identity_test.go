package diffusers

import (
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"

	"github.com/latexblend/latexblend/model/safetensors"
)

// tinySDXLIdentity pins the recipe: nodes running different builds must agree on the
// identity of the same folder, so a change here is a breaking change (bump
// identityVersion).
const tinySDXLIdentity = "959bf3ecff3cea94bed7c0bd303a3120b2eed4c57a082c5fd79fac1b7d2da708"

func TestIdentity(t *testing.T) {
	src := tinySDXL(t)
	id, err := Identity(src)
	if err != nil {
		t.Fatal(err)
	}
	if id != tinySDXLIdentity {
		t.Errorf("identity of the reference tiny SDXL = %s, want %s", id, tinySDXLIdentity)
	}
	if !regexp.MustCompile(`^[0-9a-f]{64}$`).MatchString(id) {
		t.Fatalf("identity %q is not 64 hex digits", id)
	}
	again, err := Identity(src)
	if err != nil || again != id {
		t.Fatalf("identity not stable: %s then %s (%v)", id, again, err)
	}
	copyDir := copyModel(t, src)
	if got, err := Identity(copyDir); err != nil || got != id {
		t.Fatalf("a copy (weights symlinked) has identity %s, want %s (%v)", got, id, err)
	}

	// Each kind of change moves the identity; restoring the content restores it.
	edit := func(rel string, change func(string) string) {
		t.Helper()
		p := filepath.Join(copyDir, rel)
		data, err := os.ReadFile(p)
		if err != nil {
			t.Fatal(err)
		}
		writeText(t, p, change(string(data)))
		changed, err := Identity(copyDir)
		if err != nil {
			t.Fatal(err)
		}
		if changed == id {
			t.Errorf("editing %s left the identity unchanged", rel)
		}
		writeText(t, p, string(data))
		if back, _ := Identity(copyDir); back != id {
			t.Errorf("restoring %s did not restore the identity", rel)
		}
	}
	edit("unet/config.json", func(s string) string { return strings.Replace(s, `"norm_eps": 1e-05`, `"norm_eps": 1e-06`, 1) })
	edit("vae/config.json", func(s string) string { return strings.Replace(s, "0.18215", "0.13025", 1) })
	edit("scheduler/scheduler_config.json", func(s string) string { return strings.Replace(s, `"steps_offset": 1`, `"steps_offset": 0`, 1) })
	edit("tokenizer_2/special_tokens_map.json", func(s string) string { return strings.Replace(s, `"!"`, `"<|endoftext|>"`, 1) })
	edit("model_index.json", func(s string) string {
		return strings.Replace(s, `"force_zeros_for_empty_prompt": true`, `"force_zeros_for_empty_prompt": false`, 1)
	})

	// A different VAE file with the same header but other data changes the identity.
	vae := filepath.Join(copyDir, "vae", "diffusion_pytorch_model.safetensors")
	f, err := safetensors.Open(vae)
	if err != nil {
		t.Fatal(err)
	}
	var tensors []safetensors.Tensor
	for _, info := range f.Tensors() {
		v, _, err := f.Float32(info.Name)
		if err != nil {
			t.Fatal(err)
		}
		tensors = append(tensors, safetensors.Tensor{Name: info.Name, Shape: info.Shape, F32: v})
	}
	f.Close()
	os.Remove(vae) // the symlink, not the golden file
	if err := safetensors.WriteFile(vae, tensors, map[string]string{"format": "pt"}); err != nil {
		t.Fatal(err)
	}
	if same, _ := Identity(copyDir); same != id {
		t.Fatal("re-writing identical VAE weights changed the identity")
	}
	tensors[0].F32[0] += 1 // first tensor in name order: inside the hashed head sample
	if err := safetensors.WriteFile(vae, tensors, map[string]string{"format": "pt"}); err != nil {
		t.Fatal(err)
	}
	if changed, _ := Identity(copyDir); changed == id {
		t.Error("changing the first VAE weight left the identity unchanged")
	}
	// Different dtype: the header changes.
	tensors[0].F32[0] -= 1
	tensors[0].DType = safetensors.F16
	if err := safetensors.WriteFile(vae, tensors, map[string]string{"format": "pt"}); err != nil {
		t.Fatal(err)
	}
	if changed, _ := Identity(copyDir); changed == id {
		t.Error("storing a VAE tensor as F16 left the identity unchanged")
	}

	// Only a variant present for a component: the default identity refuses.
	os.Rename(vae, filepath.Join(copyDir, "vae", "diffusion_pytorch_model.fp16.safetensors"))
	if _, err := Identity(copyDir); err == nil || !strings.Contains(err.Error(), "fp16") {
		t.Errorf("identity with only an fp16 VAE: %v", err)
	}
	if _, err := IdentityVariant(copyDir, "fp16"); err == nil {
		t.Error("fp16 identity succeeded although the UNet has no fp16 file")
	}
}
