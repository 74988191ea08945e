package blend

import (
	"fmt"
	"strconv"
)

// Options choose LatexBlend's inference mode. Replacement (option 1) is always on when
// concepts are given; blending guidance (option 2) and self-attention rectification
// (option 3) combine freely, as in the reference.
type Options struct {
	// BlendingStart: concept K/V are written once the scheduler timestep t satisfies
	// t/1000 < BlendingStart (reference default 0.9).
	BlendingStart float64
	// NoBinding turns off the bind trick (the modifier slot's pre-softmax scores copied
	// from the noun's last token), which the reference always applies.
	NoBinding bool
	// NoPlaces makes every concept use its entry's place-1 rows even when the entry
	// holds rows for later places (Entry.Places).
	NoPlaces bool

	// Guidance enables blending guidance for the first GuidanceSteps steps, each a
	// latent step of GuidanceStepsize along −∇loss.
	Guidance         bool
	GuidanceSteps    int
	GuidanceStepsize float64

	// Rectification enables self-attention rectification: attention is saved at step
	// int((1−RectificationStart)·steps) and every later step is rectified.
	Rectification      bool
	RectificationStart float64
	// CReg is the rectification strength (the reference's creg, default 2).
	CReg float64
	// Segments is the number of spectral-clustering segments (8); KMeansInit the k-means
	// restarts (100); Seed seeds them (the clustering is deterministic given it).
	Segments, KMeansInit int
	Seed                 uint64

	// ReferenceCompat reproduces the reference code exactly, bugs included: only the
	// last concept's positive guidance term, unscaled latents in the guidance pass,
	// only the second half of the batch rows blended there, and overlapping
	// rectification masks with 3+ concepts.
	ReferenceCompat bool
}

// DefaultOptions are the reference's inference settings (inference_dict/*.json).
func DefaultOptions() Options {
	return Options{
		BlendingStart:      0.9,
		GuidanceSteps:      20,
		GuidanceStepsize:   1,
		RectificationStart: 0.85,
		CReg:               2,
		Segments:           8,
		KMeansInit:         100,
	}
}

// Check validates the options.
func (o Options) Check() error {
	switch {
	case o.BlendingStart < 0 || o.BlendingStart > 1:
		return fmt.Errorf("blend: blending_start %g is outside [0, 1]", o.BlendingStart)
	case o.Guidance && o.GuidanceSteps < 0:
		return fmt.Errorf("blend: guidance_steps %d is negative", o.GuidanceSteps)
	case o.Rectification && (o.RectificationStart < 0 || o.RectificationStart > 1):
		return fmt.Errorf("blend: rectification_start %g is outside [0, 1]", o.RectificationStart)
	case o.Rectification && o.Segments < 1:
		return fmt.Errorf("blend: %d rectification segments", o.Segments)
	case o.Rectification && o.KMeansInit < 1:
		return fmt.Errorf("blend: %d k-means restarts", o.KMeansInit)
	}
	return nil
}

// Mode names the enabled options, e.g. "replace+guidance+rectification".
func (o Options) Mode() string {
	m := "replace"
	if o.Guidance {
		m += "+guidance"
	}
	if o.Rectification {
		m += "+rectification"
	}
	return m
}

// Metadata describes the options for image metadata; "objective" says whether the
// reference's code or the fixed objective was used.
func (o Options) Metadata() map[string]string {
	md := map[string]string{
		"blend_mode":     o.Mode(),
		"blending_start": strconv.FormatFloat(o.BlendingStart, 'g', -1, 64),
		"binding":        strconv.FormatBool(!o.NoBinding),
		"objective":      "fixed",
	}
	if o.ReferenceCompat {
		md["objective"] = "reference-compat"
	}
	if o.NoPlaces {
		md["places"] = "off"
	}
	if o.Guidance {
		md["guidance_steps"] = strconv.Itoa(o.GuidanceSteps)
		md["guidance_stepsize"] = strconv.FormatFloat(o.GuidanceStepsize, 'g', -1, 64)
	}
	if o.Rectification {
		md["rectification_start"] = strconv.FormatFloat(o.RectificationStart, 'g', -1, 64)
		md["creg"] = strconv.FormatFloat(o.CReg, 'g', -1, 64)
	}
	return md
}

// saveStep is the reference's i_s = int((1 − rectification_start)·len(timesteps)),
// float rounding included (0.8 with 100 steps gives 19).
func (o Options) saveStep(steps int) int {
	return int((1 - o.RectificationStart) * float64(steps))
}

// blending reports whether concept K/V are written at timestep t, compared in float32
// as torch compares a float32 timestep tensor with a Python float.
func (o Options) blending(t float64) bool {
	return float32(t)/1000 < float32(o.BlendingStart)
}

// guidanceRows are the rows of the n-row conditional guidance batch that get concept
// K/V: all of them, or in reference-compat mode rows n/2… (the reference's
// sample_number = B//2 treats the conditional batch as if it were a CFG batch).
func (o Options) guidanceRows(n int) []int {
	first := 0
	if o.ReferenceCompat {
		first = n / 2
	}
	rows := make([]int, 0, n-first)
	for r := first; r < n; r++ {
		rows = append(rows, r)
	}
	return rows
}
