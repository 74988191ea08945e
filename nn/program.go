package nn

import (
	"fmt"
	"strings"
	"sync"

	G "gorgonia.org/gorgonia"
	"gorgonia.org/tensor"
)

// BuildFunc builds a model's graph: it asks the Builder for inputs by name, applies modules
// and ops, and names outputs (Builder.Output) and optionally a scalar loss
// (Builder.Loss). It runs once per distinct set of input shapes.
type BuildFunc func(b *Builder) error

// Program runs a model: it builds and compiles one gorgonia TapeMachine per input-shape
// key (input names, shapes and the store's trainable set) and reruns it for every later
// call with the same key. A Program is safe for concurrent use; runs are serialised.
type Program struct {
	params *Params
	build  BuildFunc
	hooks  Hooks

	mu       sync.Mutex
	machines map[string]*machine
}

// machine is one compiled graph and the slots its read instructions copy results into.
type machine struct {
	vm         G.VM
	inputs     map[string]*G.Node
	outputs    map[string]*G.Value
	loss       *G.Value
	paramGrads map[*Param]*G.Value
	inputGrads map[string]*G.Value
}

// Result is what one run returns. Tensors are owned by the caller.
type Result struct {
	Outputs map[string]*tensor.Dense
	// Loss is the scalar set by Builder.Loss; HasLoss says whether there was one.
	Loss    float64
	HasLoss bool
	// InputGrads holds d(loss)/d(input) for inputs taken with Builder.InputWithGrad.
	InputGrads map[string]*tensor.Dense
}

// NewProgram returns a Program over params. hooks are passed to every build.
func NewProgram(params *Params, build BuildFunc, hooks Hooks) *Program {
	return &Program{params: params, build: build, hooks: hooks, machines: map[string]*machine{}}
}

// Compiled reports how many graphs have been built and compiled so far.
func (p *Program) Compiled() int {
	p.mu.Lock()
	defer p.mu.Unlock()
	return len(p.machines)
}

// Close releases every compiled machine.
func (p *Program) Close() error {
	p.mu.Lock()
	defer p.mu.Unlock()
	var errs []string
	for k, m := range p.machines {
		if err := m.vm.Close(); err != nil {
			errs = append(errs, err.Error())
		}
		delete(p.machines, k)
	}
	if len(errs) > 0 {
		return fmt.Errorf("nn: closing program: %s", strings.Join(errs, "; "))
	}
	return nil
}

func (p *Program) key(inputs map[string]*tensor.Dense) string {
	var sb strings.Builder
	fmt.Fprintf(&sb, "trainable@%d", p.params.gen)
	for _, name := range sortedKeys(inputs) {
		fmt.Fprintf(&sb, "|%s:%v%v", name, inputs[name].Dtype(), []int(inputs[name].Shape()))
	}
	return sb.String()
}

// Run binds the named inputs, runs the graph for their shapes (building and compiling it
// on first use), and returns the outputs. When the build set a loss, it also runs the
// backward pass and overwrites Grad of every trainable parameter the graph uses.
func (p *Program) Run(inputs map[string]*tensor.Dense) (*Result, error) {
	p.mu.Lock()
	defer p.mu.Unlock()
	for name, v := range inputs {
		if v == nil {
			return nil, fmt.Errorf("nn: input %q is nil", name)
		}
	}
	key := p.key(inputs)
	m, ok := p.machines[key]
	if !ok {
		var err error
		if m, err = p.compile(inputs); err != nil {
			return nil, err
		}
		p.machines[key] = m
	}
	for name, n := range m.inputs {
		if err := G.Let(n, inputs[name]); err != nil {
			return nil, fmt.Errorf("nn: binding input %q: %w", name, err)
		}
	}
	defer m.vm.Reset()
	if err := m.vm.RunAll(); err != nil {
		return nil, fmt.Errorf("nn: running graph: %w", err)
	}
	res := &Result{Outputs: map[string]*tensor.Dense{}, InputGrads: map[string]*tensor.Dense{}}
	for name, slot := range m.outputs {
		t, err := takeDense(slot)
		if err != nil {
			return nil, fmt.Errorf("nn: output %q: %w", name, err)
		}
		res.Outputs[name] = t
	}
	if m.loss != nil {
		v, err := scalarOf(*m.loss)
		if err != nil {
			return nil, fmt.Errorf("nn: loss: %w", err)
		}
		res.Loss, res.HasLoss = v, true
	}
	for name, slot := range m.inputGrads {
		t, err := takeDense(slot)
		if err != nil {
			return nil, fmt.Errorf("nn: gradient of input %q: %w", name, err)
		}
		res.InputGrads[name] = t
	}
	for prm, slot := range m.paramGrads {
		if *slot != prm.Grad { // the read copied into a fresh value instead of p.Grad
			src, err := denseCopy(*slot)
			if err != nil {
				return nil, fmt.Errorf("nn: gradient of %s: %w", prm.Name, err)
			}
			if err := copyInto(prm.Grad, src); err != nil {
				return nil, fmt.Errorf("nn: gradient of %s: %w", prm.Name, err)
			}
		}
	}
	return res, nil
}

func (p *Program) compile(inputs map[string]*tensor.Dense) (*machine, error) {
	if err := p.params.Err(); err != nil {
		return nil, err
	}
	b := NewBuilder(p.params, inputs, p.hooks)
	if err := p.build(b); err != nil {
		return nil, err
	}
	if len(b.outputs) == 0 && b.loss == nil {
		return nil, fmt.Errorf("nn: the graph names no output and no loss")
	}
	m := &machine{
		inputs:     b.inputNodes,
		outputs:    map[string]*G.Value{},
		paramGrads: map[*Param]*G.Value{},
		inputGrads: map[string]*G.Value{},
	}
	for name := range inputs {
		if _, used := b.inputNodes[name]; !used {
			return nil, fmt.Errorf("nn: input %q is not used by the graph (it uses %v)", name, sortedKeys(b.inputNodes))
		}
	}
	for _, name := range sortedKeys(b.outputs) {
		slot := new(G.Value)
		G.Read(b.outputs[name], slot)
		m.outputs[name] = slot
	}
	if b.loss != nil {
		if !b.loss.IsScalar() {
			return nil, fmt.Errorf("nn: the loss must be a scalar, it has shape %v", b.loss.Shape())
		}
		m.loss = new(G.Value)
		G.Read(b.loss, m.loss)
		var wrt G.Nodes
		var wrtParams []*Param
		for _, prm := range b.paramOrder {
			if prm.trainable {
				wrt = append(wrt, b.paramNodes[prm])
				wrtParams = append(wrtParams, prm)
			}
		}
		for _, name := range b.gradInputs {
			wrt = append(wrt, b.inputNodes[name])
		}
		if len(wrt) > 0 {
			grads, err := G.Grad(b.loss, wrt...)
			if err != nil {
				return nil, fmt.Errorf("nn: building the backward pass: %w", err)
			}
			for i, prm := range wrtParams {
				slot := new(G.Value)
				*slot = prm.Grad
				G.Read(grads[i], slot)
				m.paramGrads[prm] = slot
			}
			for i, name := range b.gradInputs {
				slot := new(G.Value)
				G.Read(grads[len(wrtParams)+i], slot)
				m.inputGrads[name] = slot
			}
		}
	}
	m.vm = G.NewTapeMachine(b.g)
	return m, nil
}

// takeDense hands the value a read instruction cloned to the caller and empties the
// slot, so the next run clones into a fresh value instead of overwriting this one.
func takeDense(slot *G.Value) (*tensor.Dense, error) {
	v := *slot
	*slot = nil
	if t, ok := v.(*tensor.Dense); ok && !t.IsView() {
		return t, nil
	}
	return denseCopy(v)
}

func denseCopy(v G.Value) (*tensor.Dense, error) {
	switch t := v.(type) {
	case *tensor.Dense:
		if t.IsView() {
			return t.Materialize().(*tensor.Dense), nil
		}
		return t.Clone().(*tensor.Dense), nil
	case nil:
		return nil, fmt.Errorf("no value was computed")
	}
	return nil, fmt.Errorf("value is a %T, not a tensor", v)
}

func copyInto(dst, src *tensor.Dense) error {
	if !dst.Shape().Eq(src.Shape()) {
		return fmt.Errorf("shape %v does not match %v", src.Shape(), dst.Shape())
	}
	switch d := dst.Data().(type) {
	case []float32:
		copy(d, src.Data().([]float32))
	case []float64:
		copy(d, src.Data().([]float64))
	}
	return nil
}

func scalarOf(v G.Value) (float64, error) {
	switch t := v.(type) {
	case *G.F32:
		return float64(*t), nil
	case *G.F64:
		return float64(*t), nil
	case *tensor.Dense:
		if t.Shape().TotalSize() == 1 {
			switch d := t.Data().(type) {
			case []float32:
				return float64(d[0]), nil
			case []float64:
				return d[0], nil
			case float32:
				return float64(d), nil
			case float64:
				return d, nil
			}
		}
	}
	return 0, fmt.Errorf("value %v (%T) is not a scalar", v, v)
}
