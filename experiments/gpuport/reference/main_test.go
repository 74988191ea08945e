package main

import (
	"math"
	"path/filepath"
	"slices"
	"testing"

	"github.com/latexblend/latexblend/model/safetensors"
)

// TestReferenceTensors checks the file train.py reads: every tensor it names, with the
// shapes of the shapes model, finite, and a UNet output that depends on the timestep.
func TestReferenceTensors(t *testing.T) {
	out := filepath.Join(t.TempDir(), "reference.safetensors")
	if err := run("../../../shapes/model", out); err != nil {
		t.Fatal(err)
	}
	f, err := safetensors.Open(out)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	want := map[string][]int{
		"vae_x": {4, 3, 64, 64}, "vae_mean": {4, 4, 16, 16}, "vae_std": {4, 4, 16, 16},
		"ids1": {4, 77}, "ids2": {4, 77}, "ctx": {4, 77, 64}, "pooled": {4, 32},
		"unet_sample": {4, 4, 16, 16}, "unet_t": {4}, "unet_time_ids": {4, 6}, "unet_out": {4, 4, 16, 16},
	}
	if got := f.Names(); len(got) != len(want) {
		t.Fatalf("tensors %v, want the %d train.py reads", got, len(want))
	}
	for name, shape := range want {
		info, ok := f.Info(name)
		if !ok {
			t.Fatalf("no tensor %s", name)
		}
		if !slices.Equal(info.Shape, shape) {
			t.Errorf("%s has shape %v, want %v", name, info.Shape, shape)
		}
	}
	outs, _, err := f.Float32("unet_out")
	if err != nil {
		t.Fatal(err)
	}
	row := len(outs) / 4
	for i, v := range outs {
		if math.IsNaN(float64(v)) || math.IsInf(float64(v), 0) {
			t.Fatalf("unet_out[%d] = %v", i, v)
		}
	}
	if slices.Equal(outs[:row], outs[row:2*row]) {
		t.Error("UNet rows at timesteps 999 and 500 are equal")
	}
}
