package schedule

import (
	"fmt"
	"math"
)

// checkSteps validates an inference step count against the training schedule length.
func checkSteps(n, numTrain int) error {
	if n <= 0 {
		return fmt.Errorf("schedule: number of inference steps %d must be positive", n)
	}
	if n > numTrain {
		return fmt.Errorf("schedule: number of inference steps %d exceeds num_train_timesteps %d", n, numTrain)
	}
	return nil
}

// integerTimesteps returns the DDIM/DDPM inference timesteps (numpy int64 in diffusers),
// in decreasing order.
func integerTimesteps(s settings, n int) ([]int64, error) {
	if err := checkSteps(n, s.numTrainTimesteps); err != nil {
		return nil, err
	}
	var ts []int64
	switch s.timestepSpacing {
	case SpacingLinspace:
		for _, v := range numpyLinspace(0, float64(s.numTrainTimesteps-1), n) {
			ts = append(ts, int64(math.RoundToEven(v)))
		}
		reverse(ts)
	case SpacingLeading:
		ratio := s.numTrainTimesteps / n
		for i := n - 1; i >= 0; i-- {
			ts = append(ts, int64(i*ratio+s.stepsOffset))
		}
	case SpacingTrailing:
		for _, v := range numpyArange(float64(s.numTrainTimesteps), 0, -float64(s.numTrainTimesteps)/float64(n)) {
			ts = append(ts, int64(math.RoundToEven(v))-1)
		}
	}
	for _, t := range ts {
		if t < 0 || t >= int64(s.numTrainTimesteps) {
			return nil, fmt.Errorf("schedule: %d steps with timestep_spacing %q and steps_offset %d give timestep %d outside [0, %d)",
				n, s.timestepSpacing, s.stepsOffset, t, s.numTrainTimesteps)
		}
	}
	return ts, nil
}

// floatTimesteps returns the Euler inference timesteps: diffusers keeps them as float32
// (fractional for linspace spacing), in decreasing order.
func floatTimesteps(s settings, n int) ([]float32, error) {
	if err := checkSteps(n, s.numTrainTimesteps); err != nil {
		return nil, err
	}
	var ts []float32
	switch s.timestepSpacing {
	case SpacingLinspace:
		for _, v := range numpyLinspace(0, float64(s.numTrainTimesteps-1), n) {
			ts = append(ts, float32(v))
		}
		reverse(ts)
	case SpacingLeading:
		ratio := s.numTrainTimesteps / n
		for i := n - 1; i >= 0; i-- {
			ts = append(ts, float32(i*ratio)+float32(s.stepsOffset))
		}
	case SpacingTrailing:
		for _, v := range numpyArange(float64(s.numTrainTimesteps), 0, -float64(s.numTrainTimesteps)/float64(n)) {
			ts = append(ts, float32(math.RoundToEven(v))-1)
		}
	}
	for _, t := range ts {
		if t < 0 || t > float32(s.numTrainTimesteps-1) {
			return nil, fmt.Errorf("schedule: %d steps with timestep_spacing %q and steps_offset %d give timestep %g outside [0, %d]",
				n, s.timestepSpacing, s.stepsOffset, t, s.numTrainTimesteps-1)
		}
	}
	return ts, nil
}

// numpyLinspace reproduces np.linspace(start, stop, n) in float64: i*step + start, with the
// last value set to stop exactly.
func numpyLinspace(start, stop float64, n int) []float64 {
	out := make([]float64, n)
	if n == 1 {
		out[0] = start
		return out
	}
	step := (stop - start) / float64(n-1)
	for i := range out {
		out[i] = float64(float64(i)*step) + start // two roundings, as numpy does
	}
	out[n-1] = stop
	return out
}

// numpyArange reproduces np.arange(start, stop, step) for floats: the length is
// ceil((stop-start)/step), and values after the second are start + i*delta where delta is
// (start+step)-start, which can differ from step in the last bit.
func numpyArange(start, stop, step float64) []float64 {
	length := int(math.Ceil((stop - start) / step))
	if length <= 0 {
		return nil
	}
	out := make([]float64, length)
	out[0] = start
	if length == 1 {
		return out
	}
	out[1] = start + step
	delta := out[1] - start
	for i := 2; i < length; i++ {
		out[i] = start + float64(float64(i)*delta) // not fused, like numpy's fill loop
	}
	return out
}

// numpyInterp reproduces np.interp(x, arange(len(fp)), fp) in float64, clamping outside the
// table and returning the table value exactly at integer x.
func numpyInterp(x float64, fp []float64) float64 {
	last := len(fp) - 1
	switch {
	case x <= 0:
		return fp[0]
	case x >= float64(last):
		return fp[last]
	}
	j := int(math.Floor(x))
	if float64(j) == x {
		return fp[j]
	}
	slope := fp[j+1] - fp[j] // divided by the unit spacing of the table
	return float64(slope*(x-float64(j))) + fp[j]
}

func reverse[T any](s []T) {
	for i, j := 0, len(s)-1; i < j; i, j = i+1, j-1 {
		s[i], s[j] = s[j], s[i]
	}
}
