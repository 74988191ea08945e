package unet

import (
	"context"
	"fmt"
	"strings"
	"sync"

	"gorgonia.org/tensor"

	"github.com/latexblend/latexblend/nn"
)

// Options tune one Forward call.
type Options struct {
	// Processor customises attention for this call only (nil: plain UNet).
	Processor Processor
	// Capture returns the per-block activations (see BuildOptions.Capture).
	Capture bool
	// GradSample returns d(loss)/d(sample); the processor's Finish hook must set a loss.
	// Any run with a loss also overwrites Grad of the model's trainable parameters.
	GradSample bool
}

// Output is what one Forward call returns; every tensor is owned by the caller.
type Output struct {
	// Sample is the UNet output (predicted noise) [B, out_channels, H, W].
	Sample *tensor.Dense
	// Acts holds "act.*" activations when Options.Capture was set.
	Acts map[string]*tensor.Dense
	// Extra holds the outputs the processor's hooks named.
	Extra map[string]*tensor.Dense
	// Loss and SampleGrad are set when the processor defined a loss.
	Loss       float64
	HasLoss    bool
	SampleGrad *tensor.Dense
}

// programEntry is one cached graph family (one processor key and option set); nn.Program
// compiles one machine per input shape under it. proc is the processor of the call in
// progress: builds read it, so a build always sees the hooks of the call that needed it.
type programEntry struct {
	mu   sync.Mutex
	prog *nn.Program
	proc Processor
}

// Forward evaluates the UNet. Graphs are compiled on first use for each combination of
// processor key, options and input shapes, then rerun; calls on the same graph run one
// at a time, calls on different graphs run in parallel. The context is checked before
// the run starts (a running graph cannot be interrupted).
func (m *Model) Forward(ctx context.Context, in Inputs, opts Options) (*Output, error) {
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	inputs, err := m.GraphInputs(in)
	if err != nil {
		return nil, err
	}
	key := fmt.Sprintf("capture=%v grad=%v", opts.Capture, opts.GradSample)
	if p := opts.Processor; p != nil {
		key += " proc=" + p.Key()
		extra, err := p.Inputs(in)
		if err != nil {
			return nil, err
		}
		for name, t := range extra {
			if _, clash := inputs[name]; clash {
				return nil, fmt.Errorf("unet: processor input %q clashes with a UNet input", name)
			}
			inputs[name] = t
		}
	}
	e := m.entry(key, opts)
	e.mu.Lock()
	e.proc = opts.Processor
	res, err := e.prog.Run(inputs)
	e.proc = nil
	e.mu.Unlock()
	if err != nil {
		return nil, fmt.Errorf("unet: %w", err)
	}
	out := &Output{Acts: map[string]*tensor.Dense{}, Extra: map[string]*tensor.Dense{}, Loss: res.Loss, HasLoss: res.HasLoss}
	for name, t := range res.Outputs {
		switch {
		case name == OutputSample:
			out.Sample = t
		case strings.HasPrefix(name, "act."):
			out.Acts[name] = t
		default:
			out.Extra[name] = t
		}
	}
	if opts.GradSample {
		if !res.HasLoss {
			return nil, fmt.Errorf("unet: GradSample needs a loss, and the processor's Finish hook set none")
		}
		out.SampleGrad = res.InputGrads[InputSample]
	}
	return out, nil
}

func (m *Model) entry(key string, opts Options) *programEntry {
	m.mu.Lock()
	defer m.mu.Unlock()
	if e, ok := m.progs[key]; ok {
		return e
	}
	e := &programEntry{}
	build := func(b *nn.Builder) error {
		var hooks Hooks
		if e.proc != nil {
			hooks = e.proc.Hooks()
		}
		nodes, err := m.InputNodes(b, GradOptions{Sample: opts.GradSample})
		if err != nil {
			return err
		}
		out, err := m.Build(b, nodes, BuildOptions{Hooks: hooks, Capture: opts.Capture})
		if err != nil {
			return err
		}
		b.Output(OutputSample, out)
		return nil
	}
	e.prog = nn.NewProgram(m.params, build, nn.Hooks{})
	m.progs[key] = e
	return e
}

// Compiled reports how many graphs Forward has compiled (over all keys and shapes).
func (m *Model) Compiled() int {
	m.mu.Lock()
	defer m.mu.Unlock()
	n := 0
	for _, e := range m.progs {
		n += e.prog.Compiled()
	}
	return n
}

// Release drops every compiled graph (and the activation memory it holds).
func (m *Model) Release() error {
	m.mu.Lock()
	progs := m.progs
	m.progs = map[string]*programEntry{}
	m.mu.Unlock()
	var errs []string
	for _, e := range progs {
		e.mu.Lock()
		if err := e.prog.Close(); err != nil {
			errs = append(errs, err.Error())
		}
		e.mu.Unlock()
	}
	if len(errs) > 0 {
		return fmt.Errorf("unet: releasing graphs: %s", strings.Join(errs, "; "))
	}
	return nil
}
