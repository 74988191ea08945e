package eval

import (
	"context"
	"fmt"
	"image"
	"io"
	"log/slog"
	"os"
	"slices"
	"time"

	"github.com/latexblend/latexblend/blend"
	"github.com/latexblend/latexblend/model/sdxl"
	"github.com/latexblend/latexblend/model/vae"
	"github.com/latexblend/latexblend/shapes"
	"github.com/latexblend/latexblend/shapes/judge"
	"github.com/latexblend/latexblend/trainer"
)

// Config sets an evaluation run. Zero fields take DefaultConfig's values.
type Config struct {
	// ModelDir is the base model (a diffusers folder).
	ModelDir string
	// Bank holds the concepts' entries and deltas; nil loads them from EntriesDir
	// ("" = the committed ones) when a method needs them (base, words and oracle
	// don't, so they run on any base model).
	Bank       *Bank
	EntriesDir string
	// Judge reads the images; nil loads the committed judge.
	Judge *judge.Judge
	// Prompts and Methods to run (nil: Prompts() and Methods()).
	Prompts []Prompt
	Methods []Method
	// Seeds is the number of images per prompt (seeds 0 … Seeds-1, one batch).
	Seeds int
	// Steps is the number of Euler steps, GuidanceScale the classifier-free guidance.
	Steps         int
	GuidanceScale float64
	// Out receives one grid PNG per method and results.jsonl ("" writes nothing).
	Out string
	// Binding turns on the reference's bind trick in the LatexBlend methods: the
	// modifier slot's pre-softmax scores are replaced by the noun's in every
	// cross-attention layer. It is off by default in the shapes world, where it took
	// the texture away: with "perfect" entries (the rows of "checkered star" from the
	// base model itself), replacement found the concept in 0 % of one-concept images
	// with it and 56 % without (docs/eval.md).
	Binding bool
	// NoCeiling skips MeasureCeiling (its keys print nan): quick plumbing runs.
	NoCeiling bool
	// Progress receives a line per generated batch (nil: none).
	Progress io.Writer
	Log      *slog.Logger
}

// DefaultConfig is the evaluation's standard setting.
func DefaultConfig() Config {
	return Config{Seeds: 8, Steps: 20, GuidanceScale: 5}
}

// MethodResult is one method's outcome.
type MethodResult struct {
	Method Method
	// Scores by the number of concepts in the prompt.
	Scores map[int]Score
	Images int
	// Seconds is the wall time of generating all images (blend setup, weight merging,
	// denoising and decoding; the judge excluded).
	Seconds float64
	// Rows holds the images, one row per prompt, one column per seed.
	Rows [][]image.Image
}

// SecondsPerImage is the mean generation time per image.
func (r MethodResult) SecondsPerImage() float64 { return r.Seconds / float64(r.Images) }

// Report is a finished evaluation.
type Report struct {
	Steps, Seeds int
	// Binding is Config.Binding.
	Binding bool
	// Counts are the concept counts the prompts cover, ascending.
	Counts  []int
	Methods []MethodResult
	// Grids maps each method to its grid file (when Config.Out is set).
	Grids map[Method]string
	// Ceiling is the judge's and the VAE's recall on the concepts' own images.
	Ceiling Ceiling
	// SceneCeiling scores the prompts' own scenes after the VAE (SceneCeilingRenders
	// per prompt): the best any method can do.
	SceneCeiling SceneCeiling
	Elapsed      time.Duration
}

// Method returns the result of m, or nil.
func (r *Report) Method(m Method) *MethodResult {
	for i := range r.Methods {
		if r.Methods[i].Method == m {
			return &r.Methods[i]
		}
	}
	return nil
}

type runner struct {
	cfg  Config
	p    *sdxl.Pipeline
	bank *Bank
	j    *judge.Judge
	// tokens records that the deltas' modifier tokens were installed (merged baseline).
	tokens bool
	// oracle holds the Oracle method's entries by concept name, made on first use.
	oracle map[string]*blend.Entry
	// placed holds the Places method's entries by concept name, made on first use.
	placed map[string]*blend.Entry
	out    *resultLog
}

// Run generates every prompt with every method, judges the images and returns the
// report; grids and per-image verdicts go to cfg.Out.
func Run(ctx context.Context, cfg Config) (*Report, error) {
	start := time.Now()
	def := DefaultConfig()
	if cfg.Seeds <= 0 {
		cfg.Seeds = def.Seeds
	}
	if cfg.Steps <= 0 {
		cfg.Steps = def.Steps
	}
	if cfg.GuidanceScale == 0 {
		cfg.GuidanceScale = def.GuidanceScale
	}
	if cfg.Prompts == nil {
		cfg.Prompts = Prompts()
	}
	if cfg.Methods == nil {
		cfg.Methods = Methods()
	}
	if cfg.Progress == nil {
		cfg.Progress = io.Discard
	}
	if cfg.Log == nil {
		cfg.Log = slog.New(slog.DiscardHandler)
	}
	if len(cfg.Prompts) == 0 || len(cfg.Methods) == 0 {
		return nil, fmt.Errorf("eval: %d prompts and %d methods: nothing to evaluate", len(cfg.Prompts), len(cfg.Methods))
	}
	concepts := ConceptsOf(cfg.Prompts)
	r := &runner{cfg: cfg, bank: cfg.Bank, j: cfg.Judge}
	needsBank := slices.ContainsFunc(cfg.Methods, Method.needsEntries)
	if r.bank == nil && needsBank {
		var err error
		if r.bank, err = LoadBank(cfg.EntriesDir, concepts); err != nil {
			return nil, err
		}
	}
	if r.j == nil {
		j, err := judge.Default()
		if err != nil {
			return nil, fmt.Errorf("eval: %w", err)
		}
		defer j.Close()
		r.j = j
	}
	p, err := sdxl.Load(cfg.ModelDir, sdxl.LoadOptions{Logger: cfg.Log})
	if err != nil {
		return nil, fmt.Errorf("eval: %w", err)
	}
	defer p.Close()
	r.p = p
	if needsBank {
		if err := r.bank.CheckModel(cfg.ModelDir, p.Identity, concepts); err != nil {
			return nil, err
		}
	}
	if cfg.Out != "" {
		if err := os.MkdirAll(cfg.Out, 0o755); err != nil {
			return nil, fmt.Errorf("eval: --out: %w", err)
		}
		if r.out, err = newResultLog(cfg.Out); err != nil {
			return nil, err
		}
		defer r.out.Close()
	}
	rep := &Report{Steps: cfg.Steps, Seeds: cfg.Seeds, Binding: cfg.Binding, Grids: map[Method]string{}}
	for _, pr := range cfg.Prompts {
		if !slices.Contains(rep.Counts, pr.N()) {
			rep.Counts = append(rep.Counts, pr.N())
		}
	}
	slices.Sort(rep.Counts)
	rep.Ceiling = Ceiling{JudgeRecall: nan, VAERecall: nan}
	if !cfg.NoCeiling {
		h, _ := p.DefaultSize()
		if rep.Ceiling, err = MeasureCeiling(p.VAE, r.j, concepts, shapes.ConceptImages, h); err != nil {
			return nil, err
		}
		if rep.SceneCeiling, err = MeasureSceneCeiling(p.VAE, r.j, cfg.Prompts, SceneCeilingRenders, h); err != nil {
			return nil, err
		}
		if cfg.Out != "" {
			if _, err := writeGrid(cfg.Out, "ceiling", rep.Ceiling.Rows); err != nil {
				return nil, err
			}
			if _, err := writeGrid(cfg.Out, "ceiling-scenes", rep.SceneCeiling.Rows); err != nil {
				return nil, err
			}
		}
	}
	for _, m := range cfg.Methods {
		mr, err := r.runMethod(ctx, m)
		if err != nil {
			return nil, err
		}
		if cfg.Out != "" {
			path, err := writeGrid(cfg.Out, m, mr.Rows)
			if err != nil {
				return nil, err
			}
			rep.Grids[m] = path
		}
		rep.Methods = append(rep.Methods, *mr)
	}
	if r.out != nil {
		if err := r.out.Close(); err != nil {
			return nil, err
		}
	}
	rep.Elapsed = time.Since(start)
	return rep, nil
}

// runMethod generates and judges every prompt with m.
func (r *runner) runMethod(ctx context.Context, m Method) (*MethodResult, error) {
	mr := &MethodResult{Method: m}
	byN := map[int][]Judged{}
	for _, pr := range r.cfg.Prompts {
		imgs, sec, err := r.generate(ctx, m, pr)
		if err != nil {
			return nil, fmt.Errorf("eval: %s on %q: %w", m, pr.Name(), err)
		}
		vs, err := r.j.Predict(imgs)
		if err != nil {
			return nil, fmt.Errorf("eval: judging %s on %q: %w", m, pr.Name(), err)
		}
		mr.Rows = append(mr.Rows, imgs)
		mr.Images += len(imgs)
		mr.Seconds += sec
		var judged []Judged
		for i, v := range vs {
			judged = append(judged, Judged{Prompt: pr, Verdict: v})
			if r.out != nil {
				if err := r.out.add(m, pr, r.promptText(m, pr), i, v); err != nil {
					return nil, err
				}
			}
		}
		byN[pr.N()] = append(byN[pr.N()], judged...)
		s, _ := ScoreImages(judged)
		fmt.Fprintf(r.cfg.Progress, "eval: %-8s %-50s %d images %6.2fs/img fidelity %.2f prompt %.2f bleeding %.2f\n",
			m, pr.Name(), len(imgs), sec/float64(len(imgs)), s.Fidelity, s.PromptFidelity, s.Bleeding)
	}
	scores, err := scoreByCount(byN)
	if err != nil {
		return nil, err
	}
	mr.Scores = scores
	return mr, nil
}

// promptText is the text method m gives the pipeline.
func (r *runner) promptText(m Method, pr Prompt) string {
	switch m {
	case Merged:
		return pr.Modified()
	case Words:
		return pr.Words()
	}
	return pr.Plain()
}

// generate runs one batch of Seeds images of pr with m and returns the images and the
// wall time (setup included).
func (r *runner) generate(ctx context.Context, m Method, pr Prompt) ([]image.Image, float64, error) {
	start := time.Now()
	req := sdxl.Request{Prompt: r.promptText(m, pr), Steps: r.cfg.Steps, GuidanceScale: r.cfg.GuidanceScale,
		NumImages: r.cfg.Seeds}
	switch {
	case m.blends():
		var cs []blend.Concept
		for i, c := range pr.Concepts {
			var e *blend.Entry
			var err error
			switch m {
			case Oracle:
				e, err = r.oracleEntry(c)
			case Context:
				e, err = r.promptEntry(pr, pr.Words(), c)
			case Ordinal:
				var words string
				if words, err = pr.OrdinalWords(i); err == nil {
					e, err = r.promptEntry(pr, words, c)
				}
			case Places:
				e, err = r.placedEntry(c)
			default:
				e = r.bank.Entries[c.Name]
			}
			if err != nil {
				return nil, 0, err
			}
			cs = append(cs, blend.Concept{ClassNoun: c.Class.String(), Entry: e})
		}
		b, err := blend.New(blend.Setup{UNet: r.p.UNet, Tokenizer: r.p.Prompt.Tokenizer, Identity: r.p.Identity,
			Prompt: req.Prompt, Concepts: cs, Options: m.blendOptions(r.cfg.Steps, 0, r.cfg.Binding), Logger: r.cfg.Log})
		if err != nil {
			return nil, 0, err
		}
		req.Hooks = b.Hooks(sdxl.Hooks{})
	case m == Merged:
		restore, err := r.merge(pr)
		if err != nil {
			return nil, 0, err
		}
		defer restore()
	case m != Base && m != Words:
		return nil, 0, fmt.Errorf("unknown method %q", m)
	}
	res, err := r.p.Generate(ctx, req)
	if err != nil {
		return nil, 0, err
	}
	rgba, err := vae.ToImages(res.Images)
	if err != nil {
		return nil, 0, err
	}
	sec := time.Since(start).Seconds()
	imgs := make([]image.Image, len(rgba))
	for i, im := range rgba {
		imgs[i] = im
	}
	return imgs, sec, nil
}

// oracleEntry returns the concept's perfect entry (Oracle), made once per run from
// the base model's own text encoders and cross-attention.
func (r *runner) oracleEntry(c EvalConcept) (*blend.Entry, error) {
	return cachedEntry(&r.oracle, c.Name, "oracle entry", func() (*blend.Entry, error) {
		return trainer.WordsEntry(r.base(), shapes.TextureAdjective(c.Texture), c.Class.String(), time.Now().UTC())
	})
}

// cachedEntry returns (*cache)[name], made by build on first use; what names the entry
// in errors.
func cachedEntry(cache *map[string]*blend.Entry, name, what string, build func() (*blend.Entry, error)) (*blend.Entry, error) {
	if e, ok := (*cache)[name]; ok {
		return e, nil
	}
	e, err := build()
	if err != nil {
		return nil, fmt.Errorf("%s of %s: %w", what, name, err)
	}
	if *cache == nil {
		*cache = map[string]*blend.Entry{}
	}
	(*cache)[name] = e
	return e, nil
}

// maxEvalConcepts is the most concepts an eval prompt holds, so the places the
// Places method's entries need.
const maxEvalConcepts = 3

// placedEntry returns the concept's entry with per-place rows (Places), extracted
// once per run from its delta.
func (r *runner) placedEntry(c EvalConcept) (*blend.Entry, error) {
	return cachedEntry(&r.placed, c.Name, "per-place entry", func() (*blend.Entry, error) {
		return trainer.Extract(r.base(), r.bank.Deltas[c.Name], trainer.ExtractOptions{Places: maxEvalConcepts,
			Fillers: PlaceFillers(c.Class, maxEvalConcepts-1), Created: time.Now().UTC()})
	})
}

// promptEntry returns the concept's entry taken from the words prompt (Context: pr's
// Words; Ordinal: its OrdinalWords). Each (prompt, concept) pair is used once per
// run, so nothing is cached.
func (r *runner) promptEntry(pr Prompt, words string, c EvalConcept) (*blend.Entry, error) {
	e, err := trainer.WordsEntryIn(r.base(), words, shapes.TextureAdjective(c.Texture), c.Class.String(), time.Now().UTC())
	if err != nil {
		return nil, fmt.Errorf("entry of %s for %s from %q: %w", c.Name, pr.Name(), words, err)
	}
	return e, nil
}

// base is the loaded base model as the trainer's entry makers take it.
func (r *runner) base() *trainer.Base {
	return &trainer.Base{Dir: r.cfg.ModelDir, Identity: r.p.Identity, UNet: r.p.UNet, Prompt: r.p.Prompt}
}

// merge installs every concept's token (once) and writes the average of pr's
// concepts' fine-tuned to_k/to_v into the UNet; restore puts the base weights back.
func (r *runner) merge(pr Prompt) (restore func(), err error) {
	if !r.tokens {
		var all []*trainer.Delta
		for _, c := range ConceptsOf(r.cfg.Prompts) {
			all = append(all, r.bank.Deltas[c.Name])
		}
		if err := InstallTokens(r.p.Prompt, all); err != nil {
			return nil, err
		}
		r.tokens = true
	}
	var ds []*trainer.Delta
	for _, c := range pr.Concepts {
		ds = append(ds, r.bank.Deltas[c.Name])
	}
	w, err := MergeDeltas(r.p.UNet.Params(), ds)
	if err != nil {
		return nil, err
	}
	return ApplyWeights(r.p.UNet.Params(), w)
}
