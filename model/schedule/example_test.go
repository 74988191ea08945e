package schedule_test

import (
	"fmt"
	"log"

	"github.com/latexblend/latexblend/model/schedule"
)

// A sampling loop: the caller owns the batch layout and the model; the scheduler only
// scales inputs and steps. Here the "model" always predicts zero noise.
func Example() {
	cfg, err := schedule.ParseConfig([]byte(`{
		"_class_name": "EulerDiscreteScheduler", "num_train_timesteps": 1000,
		"beta_start": 0.00085, "beta_end": 0.012, "beta_schedule": "scaled_linear",
		"timestep_spacing": "leading", "steps_offset": 1}`))
	if err != nil {
		log.Fatal(err)
	}
	s, err := schedule.New(cfg, "") // "" = the config's class; or schedule.KindDDIM, ...
	if err != nil {
		log.Fatal(err)
	}
	if err := s.SetTimesteps(5); err != nil {
		log.Fatal(err)
	}
	fmt.Println("timesteps", s.Timesteps())
	fmt.Printf("init noise sigma %.4f\n", s.InitNoiseSigma())

	latents := []float32{1, -1} // unit noise times InitNoiseSigma in a real pipeline
	for i := range s.Timesteps() {
		in, _ := s.ScaleModelInput(latents, i)
		eps := make([]float32, len(in)) // model(in, s.Timesteps()[i])
		var noise []float32
		if s.StepNeedsNoise(i) {
			noise = make([]float32, len(in)) // Gaussian noise from the caller's generator
		}
		out, err := s.Step(eps, latents, i, noise)
		if err != nil {
			log.Fatal(err)
		}
		latents = out.PrevSample
	}
	fmt.Println("final", latents)
	// Output:
	// timesteps [801 601 401 201 1]
	// init noise sigma 5.2309
	// final [1 -1]
}
