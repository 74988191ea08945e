package trainer

import (
	"fmt"
	"math/rand/v2"

	"gorgonia.org/tensor"
)

// TrainData is a run's decoded images: instance images kept whole (they are
// re-augmented every step) and prior images resized once as the reference's class
// transform does (shorter side to the resolution, bilinear); each draw flips them
// (p = 0.5) and cuts a random size×size crop (the reference's RandomCrop; it uses
// CenterCrop only with --center_crop, which its train.sh does not pass).
type TrainData struct {
	Instances     []*rgbImage
	InstanceNames []string
	Priors        []*rgbImage
	PriorCaptions []string
}

// NewTrainData prepares decoded images for training at resolution.
func NewTrainData(instances, reg []Image, resolution int) (*TrainData, error) {
	if len(instances) == 0 {
		return nil, fmt.Errorf("no instance images")
	}
	d := &TrainData{}
	for _, im := range instances {
		d.Instances = append(d.Instances, toRGB(im.Img))
		d.InstanceNames = append(d.InstanceNames, im.Name)
	}
	for _, im := range reg {
		d.Priors = append(d.Priors, toRGB(im.Img).resizeShorter(resolution))
		d.PriorCaptions = append(d.PriorCaptions, im.Caption)
	}
	return d, nil
}

// stepRNG is the random stream of one rank's step: a PCG seeded by the run's seed and
// (rank, step). Deriving it from the step makes resuming exact without storing
// generator state, and gives every rank its own samples.
func stepRNG(seed uint64, rank, step int) *rand.Rand {
	return rand.New(rand.NewPCG(seed, uint64(rank)<<40|uint64(step)))
}

// DrawStep draws rank's samples for step (1-based): instance and prior images, the
// templates, augmentation, VAE latents, noise and timesteps.
func (t *Trainer) DrawStep(data *TrainData, rank, step int) (*StepData, error) {
	if t.base.VAE == nil {
		return nil, fmt.Errorf("drawing a step needs the VAE (LoadBase with VAE)")
	}
	r, l := t.recipe, t.layout
	if l.prior && len(data.Priors) == 0 {
		return nil, fmt.Errorf("prior preservation is on but there are no regularization images")
	}
	rng := stepRNG(r.Seed, rank, step)
	size, factor := r.Resolution, t.base.VAE.DownFactor()
	h := size / factor
	plane := 3 * size * size
	pixels := make([]float32, l.samples*plane)
	d := &StepData{Height: h, Width: h, Masks: make([]float32, l.B*h*h)}
	for i := range l.B {
		inst := data.Instances[rng.IntN(len(data.Instances))]
		ti, tr := rng.IntN(len(r.Templates)), rng.IntN(len(r.Templates))
		p := Prompts{
			Instance: fill(r.Templates[ti], r.instanceText()),
			Class:    r.ClassNoun,
			Replace:  fill(r.Templates[tr], r.replaceText()),
		}
		augmentInstance(rng, inst, size, factor, r.HFlip, r.Augment, pixels[i*plane:(i+1)*plane], d.Masks[i*h*h:(i+1)*h*h])
		if l.prior {
			k := rng.IntN(len(data.Priors))
			img := data.Priors[k]
			if r.HFlip && rng.IntN(2) == 0 {
				img = img.flip()
			}
			top, left := rng.IntN(img.h-size+1), rng.IntN(img.w-size+1)
			img.crop(left, top, size, size).planes(pixels[(l.B+i)*plane:(l.B+i+1)*plane], size, 0, 0)
			if c := data.PriorCaptions[k]; c != "" {
				p.Class = c
			}
		}
		d.Prompts = append(d.Prompts, p)
		d.Templates = append(d.Templates, [2]string{r.Templates[ti], r.Templates[tr]})
	}
	dist, err := t.base.VAE.Encode(tensor.New(tensor.WithShape(l.samples, 3, size, size), tensor.WithBacking(pixels)))
	if err != nil {
		return nil, fmt.Errorf("step %d: %w", step, err)
	}
	lat, err := dist.Sample(normalTensor(rng, dist.Mean.Shape()...))
	if err != nil {
		return nil, fmt.Errorf("step %d: %w", step, err)
	}
	sf := float32(t.base.VAE.ScalingFactor())
	d.Latents = lat.Data().([]float32)
	for i := range d.Latents {
		d.Latents[i] *= sf
	}
	d.Noise = normalTensor(rng, len(d.Latents)).Data().([]float32)
	n := t.base.NumTrainTimesteps()
	for range l.samples {
		d.Timesteps = append(d.Timesteps, float64(rng.IntN(n)))
	}
	return d, nil
}

// normalTensor draws standard-normal float32 values.
func normalTensor(rng *rand.Rand, shape ...int) *tensor.Dense {
	n := 1
	for _, s := range shape {
		n *= s
	}
	v := make([]float32, n)
	for i := range v {
		v[i] = float32(rng.NormFloat64())
	}
	return tensor.New(tensor.WithShape(shape...), tensor.WithBacking(v))
}
