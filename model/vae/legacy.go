package vae

import (
	"regexp"
	"sort"

	"github.com/latexblend/latexblend/model/diffusers"
	"github.com/latexblend/latexblend/model/safetensors"
)

// legacyAttention matches the mid-block attention keys of checkpoints written before
// diffusers 0.14 renamed AttentionBlock's projections to the Attention layout.
var legacyAttention = regexp.MustCompile(`^(.*\.attentions\.\d+)\.(query|key|value|proj_attn)\.(weight|bias)$`)

var legacyProjection = map[string]string{"query": "to_q", "key": "to_k", "value": "to_v", "proj_attn": "to_out.0"}

// currentAttention matches the attention projection weights that converted checkpoints
// sometimes store as 1×1 convolutions, [C, C, 1, 1] instead of [C, C].
var currentAttention = regexp.MustCompile(`\.attentions\.\d+\.(to_q|to_k|to_v|to_out\.0)\.weight$`)

// renamedSource presents a checkpoint under current diffusers names: legacy attention
// keys are renamed (unless the file also holds the current key, in which case the
// legacy one stays and is reported as unexpected) and 1×1-convolution attention
// weights are presented as the linear weights they are (same values, same order).
type renamedSource struct {
	src     diffusers.Float32Source
	names   []string
	inFile  map[string]string // presented name → name in the file
	flatten map[string]bool   // presented as [C, C] although stored [C, C, 1, 1]
}

var (
	_ diffusers.Float32Source    = (*renamedSource)(nil)
	_ interface{ Path() string } = (*renamedSource)(nil)
)

func newRenamedSource(src diffusers.Float32Source) *renamedSource {
	r := &renamedSource{src: src, inFile: map[string]string{}, flatten: map[string]bool{}}
	present := map[string]bool{}
	for _, n := range src.Names() {
		present[n] = true
	}
	for _, n := range src.Names() {
		name := n
		if m := legacyAttention.FindStringSubmatch(n); m != nil {
			if cur := m[1] + "." + legacyProjection[m[2]] + "." + m[3]; !present[cur] {
				name = cur
			}
		}
		r.inFile[name] = n
		r.names = append(r.names, name)
		if info, ok := src.Info(n); ok && currentAttention.MatchString(name) &&
			len(info.Shape) == 4 && info.Shape[2] == 1 && info.Shape[3] == 1 {
			r.flatten[name] = true
		}
	}
	sort.Strings(r.names)
	return r
}

func (r *renamedSource) Names() []string { return append([]string(nil), r.names...) }

func (r *renamedSource) Info(name string) (safetensors.TensorInfo, bool) {
	n, ok := r.inFile[name]
	if !ok {
		return safetensors.TensorInfo{}, false
	}
	info, ok := r.src.Info(n)
	if !ok {
		return info, false
	}
	info.Name = name
	info.Shape = append([]int(nil), info.Shape...)
	if r.flatten[name] {
		info.Shape = info.Shape[:2]
	}
	return info, true
}

func (r *renamedSource) Float32Into(name string, dst []float32) error {
	n, ok := r.inFile[name]
	if !ok {
		n = name // let the source report the missing tensor
	}
	return r.src.Float32Into(n, dst)
}

func (r *renamedSource) Path() string {
	if p, ok := r.src.(interface{ Path() string }); ok {
		return p.Path()
	}
	return "weights"
}
