// Command reference writes reference tensors of a shapes model, computed by
// latexblend's own code: a VAE encode of four base scenes, both text encoders on their
// captions (SDXL's joined context and pooled embedding) and one UNet evaluation. train.py
// in experiments/gpuport checks its PyTorch port against them before training.
//
// It is an experiment aid, not part of latexblend: see experiments/gpuport/README.md.
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"image"
	"math/rand/v2"
	"os"
	"strings"

	"gorgonia.org/tensor"

	"github.com/latexblend/latexblend/model/safetensors"
	"github.com/latexblend/latexblend/model/sdxl"
	"github.com/latexblend/latexblend/model/unet"
	"github.com/latexblend/latexblend/model/vae"
	"github.com/latexblend/latexblend/shapes"
)

// rows is the batch of every reference: four scenes, four captions, four UNet rows at
// the timesteps below.
const rows = 4

var timesteps = []float64{999, 500, 100, 3}

func main() {
	model := flag.String("model", "shapes/model", "model folder")
	out := flag.String("out", "reference.safetensors", "output file")
	flag.Parse()
	if err := run(*model, *out); err != nil {
		fmt.Fprintln(os.Stderr, "reference:", err)
		os.Exit(1)
	}
}

func run(model, out string) (err error) {
	p, err := sdxl.Load(model, sdxl.LoadOptions{})
	if err != nil {
		return err
	}
	defer func() { err = errors.Join(err, p.Close()) }()
	var ts []safetensors.Tensor
	add := func(name string, d *tensor.Dense) {
		ts = append(ts, safetensors.Tensor{Name: name, Shape: []int(d.Shape()), F32: append([]float32(nil), d.Data().([]float32)...)})
	}
	samples, err := shapes.Dataset(123, rows, shapes.DefaultSize)
	if err != nil {
		return err
	}
	var caps []string
	var imgs []image.Image
	for _, s := range samples {
		caps = append(caps, s.Caption)
		imgs = append(imgs, s.Image)
	}
	x, err := vae.FromImages(imgs...)
	if err != nil {
		return err
	}
	d, err := p.VAE.Encode(x)
	if err != nil {
		return err
	}
	add("vae_x", x)
	add("vae_mean", d.Mean)
	add("vae_std", d.Std)

	var ids1, ids2 [][]int
	var flat1, flat2 []int64
	for _, c := range caps {
		a, b := p.Prompt.Tokenizer.EncodePadded(c), p.Prompt.Tokenizer2.EncodePadded(c)
		ids1, ids2 = append(ids1, a), append(ids2, b)
		for i := range a {
			flat1 = append(flat1, int64(a[i]))
			flat2 = append(flat2, int64(b[i]))
		}
	}
	l := len(ids1[0])
	ts = append(ts, safetensors.Tensor{Name: "ids1", Shape: []int{rows, l}, DType: safetensors.I64, I64: flat1},
		safetensors.Tensor{Name: "ids2", Shape: []int{rows, l}, DType: safetensors.I64, I64: flat2})
	ctx, pooled, err := p.Prompt.EncodeIDs(ids1, ids2)
	if err != nil {
		return err
	}
	add("ctx", ctx)
	add("pooled", pooled)

	px, _ := p.DefaultSize()
	ch, side := p.LatentChannels(), px/p.VAEScaleFactor()
	rng := rand.New(rand.NewPCG(7, 7))
	z := make([]float32, rows*ch*side*side)
	for i := range z {
		z[i] = float32(rng.NormFloat64())
	}
	sample := tensor.New(tensor.WithShape(rows, ch, side, side), tensor.WithBacking(z))
	size := sdxl.SizeConditioning{OriginalSize: [2]int{px, px}, TargetSize: [2]int{px, px}}.TimeIDs()
	var tids, tsteps []float32
	for i := range rows {
		tids = append(tids, size[:]...)
		tsteps = append(tsteps, float32(timesteps[i]))
	}
	timeIDs := tensor.New(tensor.WithShape(rows, len(size)), tensor.WithBacking(tids))
	o, err := p.UNet.Forward(context.Background(), unet.Inputs{Sample: sample, Timesteps: timesteps, Context: ctx, TextEmbeds: pooled, TimeIDs: timeIDs}, unet.Options{})
	if err != nil {
		return err
	}
	add("unet_sample", sample)
	add("unet_t", tensor.New(tensor.WithShape(rows), tensor.WithBacking(tsteps)))
	add("unet_time_ids", timeIDs)
	add("unet_out", o.Sample)
	if err := safetensors.WriteFile(out, ts, map[string]string{"model": p.Identity, "captions": strings.Join(caps, " | ")}); err != nil {
		return err
	}
	fmt.Printf("out=%s model=%s tensors=%d\n", out, p.Identity, len(ts))
	return nil
}
