package main

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strings"
	"time"

	"github.com/spf13/cobra"
	"gorgonia.org/tensor"

	"github.com/latexblend/latexblend/model/safetensors"
	"github.com/latexblend/latexblend/model/schedule"
	"github.com/latexblend/latexblend/model/sdxl"
	"github.com/latexblend/latexblend/model/vae"
)

func init() { subcommands = append(subcommands, newGenerateCmd) }

// generateExtension adds flags to `generate` and steers a generation: LatexBlend's
// concepts and modes plug in here from their own file. A constructor is called for
// each new command, so flag variables are fresh.
type generateExtension interface {
	// AddFlags registers the extension's flags on the command.
	AddFlags(cmd *cobra.Command)
	// Apply runs after the model is loaded and the request is built from the common
	// flags (req.Prompt may still be empty when --prompt was not given). It may fill or
	// change the request and set its hooks. It returns the metadata to record under
	// its name in the image's "extensions", or nil when it is not in use.
	Apply(ctx context.Context, cmd *cobra.Command, p *sdxl.Pipeline, req *sdxl.Request) (name string, meta any, err error)
}

// generateExtensions are registered from init by other files of this package.
var generateExtensions []func() generateExtension

// generateFlags are the common flags of `generate`.
type generateFlags struct {
	model, variant          string
	prompt, negativePrompt  string
	steps, numImages        int
	cfg                     float64
	seed                    uint64
	width, height           int
	scheduler               string
	initLatents, outLatents string
	out                     string
	quiet                   bool
}

func newGenerateCmd() *cobra.Command {
	var fl generateFlags
	var exts []generateExtension
	for _, mk := range generateExtensions {
		exts = append(exts, mk())
	}
	cmd := &cobra.Command{
		Use: "generate --model DIR --prompt TEXT [--negative-prompt TEXT] [--steps N] [--cfg X] [--seed S] [--width W --height H] " +
			"[--scheduler euler|ddim|ddpm] [--init-latents FILE.safetensors] [--out-latents FILE.safetensors] --out IMG.png",
		Short: "Generate images locally with an SDXL model (no cluster needed)",
		Long: `Runs the SDXL text-to-image pipeline (diffusers' StableDiffusionXLPipeline) on this
machine and writes a PNG whose "latexblend" text entry (JSON) and "parameters" text entry
record every parameter needed to generate it again: prompt, negative prompt, seed, steps,
guidance scale, size, scheduler, model identity and program version.

The initial noise comes from latexblend's own generator (PCG32 + polar Box-Muller), not
torch's: the same seed gives the same image on every machine, but not the image diffusers
gives for that seed. To start from diffusers' (or any) latents, pass --init-latents: a
safetensors file whose float32 tensor "latents" [B, 4, H/8, W/8] has the meaning of
diffusers' latents= argument (the pipeline multiplies it by the scheduler's
init_noise_sigma). --out-latents writes the final latents (before VAE decoding) as the
tensor "latents".

With --num-images N > 1 (or N rows of --init-latents) image i is written to
IMG_i.png; it is the image a single run with --seed S+i gives.

A progress bar (step/total, it/s, ETA) is drawn on stderr when it is a terminal and
--quiet is not set. The last stdout line is key=value fields.`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			return runGenerate(cmd, &fl, exts)
		},
	}
	f := cmd.Flags()
	f.StringVar(&fl.model, "model", "", "SDXL diffusers model folder (model_index.json, unet/, vae/, text_encoder*/, tokenizer*/, scheduler/)")
	f.StringVar(&fl.variant, "variant", "", `weight file variant, e.g. "fp16" (widened to float32)`)
	f.StringVar(&fl.prompt, "prompt", "", "the prompt")
	f.StringVar(&fl.negativePrompt, "negative-prompt", "", "the negative prompt (when absent, SDXL uses all-zero negative embeddings)")
	f.IntVar(&fl.steps, "steps", sdxl.DefaultSteps, "number of denoising steps")
	f.Float64Var(&fl.cfg, "cfg", sdxl.DefaultGuidanceScale, "classifier-free guidance scale (no guidance when <= 1)")
	f.Uint64Var(&fl.seed, "seed", 0, "seed of the initial noise (and of DDPM's step noise)")
	f.IntVar(&fl.width, "width", 0, "image width in pixels (default: the model's, e.g. 1024, or the --init-latents size)")
	f.IntVar(&fl.height, "height", 0, "image height in pixels (default: the model's, e.g. 1024, or the --init-latents size)")
	f.StringVar(&fl.scheduler, "scheduler", "", "sampler: euler, ddim or ddpm (default: the model's scheduler)")
	f.IntVar(&fl.numImages, "num-images", 1, "number of images (seeds S, S+1, …)")
	f.StringVar(&fl.initLatents, "init-latents", "", `safetensors file with the initial "latents" [B, 4, h, w] (diffusers' latents= argument)`)
	f.StringVar(&fl.outLatents, "out-latents", "", `safetensors file to write the final "latents" to (before VAE decoding)`)
	f.StringVar(&fl.out, "out", "", "PNG file to write")
	f.BoolVar(&fl.quiet, "quiet", false, "no progress bar")
	for _, e := range exts {
		e.AddFlags(cmd)
	}
	return cmd
}

func runGenerate(cmd *cobra.Command, fl *generateFlags, exts []generateExtension) error {
	ctx := cmd.Context()
	if ctx == nil {
		ctx = context.Background()
	}
	flags := cmd.Flags()
	switch {
	case fl.model == "":
		return fmt.Errorf("generate: --model DIR is required")
	case fl.out == "":
		return fmt.Errorf("generate: --out IMG.png is required")
	case fl.steps <= 0:
		return fmt.Errorf("generate: --steps %d: need at least 1 step", fl.steps)
	case fl.numImages <= 0:
		return fmt.Errorf("generate: --num-images %d: need at least 1", fl.numImages)
	case fl.width < 0 || fl.height < 0:
		return fmt.Errorf("generate: --width %d --height %d: sizes must be positive", fl.width, fl.height)
	}
	if st, err := os.Stat(filepath.Dir(fl.out)); err != nil || !st.IsDir() {
		return fmt.Errorf("generate: --out %s: the folder %s does not exist", fl.out, filepath.Dir(fl.out))
	}
	req := sdxl.Request{
		Prompt: fl.prompt, Steps: fl.steps, GuidanceScale: fl.cfg, Seed: fl.seed,
		Width: fl.width, Height: fl.height,
	}
	if flags.Changed("negative-prompt") {
		neg := fl.negativePrompt
		req.NegativePrompt = &neg
	}
	if fl.scheduler != "" {
		k, err := parseSchedulerFlag(fl.scheduler)
		if err != nil {
			return err
		}
		req.Scheduler = k
	}
	var initRef *sdxl.LatentsRef
	if fl.initLatents != "" {
		lat, ref, err := readInitLatents(fl.initLatents)
		if err != nil {
			return err
		}
		if flags.Changed("num-images") && fl.numImages != lat.Shape()[0] {
			return fmt.Errorf("generate: --num-images %d but --init-latents %s holds %d rows", fl.numImages, fl.initLatents, lat.Shape()[0])
		}
		req.InitLatents, initRef = lat, ref
	} else {
		req.NumImages = fl.numImages
	}

	p, err := sdxl.Load(fl.model, sdxl.LoadOptions{Variant: fl.variant})
	if err != nil {
		return fmt.Errorf("generate: --model %s: %w", fl.model, err)
	}
	defer p.Close()
	if err := checkGenerateSize(p, &req, fl); err != nil {
		return err
	}
	extMeta := map[string]json.RawMessage{}
	for _, e := range exts {
		name, meta, err := e.Apply(ctx, cmd, p, &req)
		if err != nil {
			return fmt.Errorf("generate: %w", err)
		}
		if meta != nil {
			js, err := json.Marshal(meta)
			if err != nil {
				return fmt.Errorf("generate: %s metadata: %w", name, err)
			}
			extMeta[name] = js
		}
	}
	if req.Prompt == "" && !flags.Changed("prompt") {
		return fmt.Errorf("generate: --prompt TEXT is required (it may be empty)")
	}

	bar := newProgressBar(cmd.ErrOrStderr(), fl.quiet)
	req.Hooks.Progress = chainProgress(req.Hooks.Progress, bar.update)
	bar.start(req.Steps)
	res, err := p.Generate(ctx, req)
	bar.finish()
	if err != nil {
		return fmt.Errorf("generate: %w", err)
	}

	if fl.outLatents != "" {
		if err := writeLatents(fl.outLatents, res, p.Identity); err != nil {
			return err
		}
	}
	if res.Images == nil {
		return fmt.Errorf("generate: the pipeline returned no decoded images")
	}
	imgs, err := vae.ToImages(res.Images)
	if err != nil {
		return fmt.Errorf("generate: %w", err)
	}
	paths := outputPaths(fl.out, len(imgs))
	for i, img := range imgs {
		meta := &sdxl.ImageMetadata{
			Format: sdxl.MetadataFormat, Version: buildVersion(),
			ModelIdentity: p.Identity, ModelDir: fl.model, ModelVariant: fl.variant,
			Params: res.Params, BatchIndex: i, ImageSeed: res.Params.Seed + uint64(i),
		}
		if initRef != nil {
			ref := *initRef
			ref.Row = i
			meta.InitLatents = &ref
		}
		if len(extMeta) > 0 {
			meta.Extensions = extMeta
		}
		texts, err := meta.TextChunks()
		if err != nil {
			return fmt.Errorf("generate: %w", err)
		}
		if err := sdxl.WritePNG(paths[i], img, texts); err != nil {
			return fmt.Errorf("generate: --out: %w", err)
		}
	}
	perStep := res.Elapsed.Seconds() / float64(res.Params.Steps)
	_, err = fmt.Fprintf(cmd.OutOrStdout(), "out=%s images=%d width=%d height=%d steps=%d cfg=%g seed=%d scheduler=%s elapsed_s=%.3f s_per_step=%.4f\n",
		strings.Join(paths, ","), len(paths), res.Params.Width, res.Params.Height, res.Params.Steps, res.Params.GuidanceScale,
		res.Params.Seed, res.Params.Scheduler, res.Elapsed.Seconds(), perStep)
	return err
}

// parseSchedulerFlag accepts the three sampler names of --scheduler.
func parseSchedulerFlag(s string) (schedule.Kind, error) {
	switch k := schedule.Kind(strings.ToLower(s)); k {
	case schedule.KindEuler, schedule.KindDDIM, schedule.KindDDPM:
		return k, nil
	}
	return "", fmt.Errorf("generate: --scheduler %q: want euler, ddim or ddpm", s)
}

// checkGenerateSize fills the default size and checks it against the model, naming the
// flag that is wrong.
func checkGenerateSize(p *sdxl.Pipeline, req *sdxl.Request, fl *generateFlags) error {
	if req.InitLatents != nil {
		s := req.InitLatents.Shape()
		f := p.VAEScaleFactor()
		for _, d := range []struct {
			flag   string
			v, lat int
		}{{"--height", fl.height, s[2]}, {"--width", fl.width, s[3]}} {
			if d.v != 0 && d.v != d.lat*f {
				return fmt.Errorf("generate: %s %d but --init-latents %s is %d latent pixels = %d image pixels (VAE factor %d)",
					d.flag, d.v, fl.initLatents, d.lat, d.lat*f, f)
			}
		}
		if s[1] != p.LatentChannels() {
			return fmt.Errorf("generate: --init-latents %s: tensor \"latents\" has %d channels, the model's latents %d", fl.initLatents, s[1], p.LatentChannels())
		}
		if err := p.CheckSize(s[2]*f, s[3]*f); err != nil {
			return fmt.Errorf("generate: --init-latents %s: latents of %dx%d are %dx%d pixels: %w", fl.initLatents, s[2], s[3], s[2]*f, s[3]*f, err)
		}
		return nil
	}
	h, w := p.DefaultSize()
	if req.Height == 0 {
		req.Height = h
	}
	if req.Width == 0 {
		req.Width = w
	}
	var se *sdxl.SizeError
	if err := p.CheckSize(req.Height, req.Width); errors.As(err, &se) {
		return fmt.Errorf("generate: --%s %d: must be a positive multiple of %d for this model (VAE factor %d × UNet upsampling %d)",
			se.Dim, se.Value, se.Multiple, p.VAEScaleFactor(), se.Multiple/p.VAEScaleFactor())
	} else if err != nil {
		return fmt.Errorf("generate: %w", err)
	}
	return nil
}

// readInitLatents reads the float32 tensor "latents" [B, C, h, w] of a safetensors file
// and the file's SHA-256 for the image metadata.
func readInitLatents(path string) (*tensor.Dense, *sdxl.LatentsRef, error) {
	raw, err := os.ReadFile(path)
	if err != nil {
		return nil, nil, fmt.Errorf("generate: --init-latents: %w", err)
	}
	f, err := safetensors.Open(path)
	if err != nil {
		return nil, nil, fmt.Errorf("generate: --init-latents: %w", err)
	}
	defer f.Close()
	info, ok := f.Info("latents")
	if !ok {
		return nil, nil, fmt.Errorf("generate: --init-latents %s has no tensor \"latents\" (it has %v)", path, f.Names())
	}
	if len(info.Shape) != 4 || info.Shape[0] < 1 {
		return nil, nil, fmt.Errorf("generate: --init-latents %s: tensor \"latents\" has shape %v, want [B, 4, h, w]", path, info.Shape)
	}
	if !info.DType.IsFloat() {
		return nil, nil, fmt.Errorf("generate: --init-latents %s: tensor \"latents\" is %s, want a float type", path, info.DType)
	}
	v, shape, err := f.Float32("latents")
	if err != nil {
		return nil, nil, fmt.Errorf("generate: --init-latents: %w", err)
	}
	sum := sha256.Sum256(raw)
	ref := &sdxl.LatentsRef{File: path, SHA256: hex.EncodeToString(sum[:])}
	return tensor.New(tensor.WithShape(shape...), tensor.WithBacking(v)), ref, nil
}

// writeLatents writes the final latents as the tensor "latents", with the generation
// parameters in the file's metadata.
func writeLatents(path string, res *sdxl.Result, identity string) error {
	params, err := json.Marshal(res.Params)
	if err != nil {
		return fmt.Errorf("generate: --out-latents: %w", err)
	}
	t := []safetensors.Tensor{{Name: "latents", Shape: res.Latents.Shape().Clone(), F32: res.Latents.Data().([]float32)}}
	meta := map[string]string{"format": "pt", "latexblend": string(params), "model_identity": identity}
	if err := safetensors.WriteFile(path, t, meta); err != nil {
		return fmt.Errorf("generate: --out-latents: %w", err)
	}
	return nil
}

// outputPaths is out itself for one image, else out with "_<i>" before the extension.
func outputPaths(out string, n int) []string {
	if n == 1 {
		return []string{out}
	}
	ext := filepath.Ext(out)
	stem := strings.TrimSuffix(out, ext)
	paths := make([]string, n)
	for i := range paths {
		paths[i] = fmt.Sprintf("%s_%d%s", stem, i, ext)
	}
	return paths
}

// chainProgress calls an extension's progress hook, if any, then ours.
func chainProgress(first, then func(*sdxl.Step)) func(*sdxl.Step) {
	if first == nil {
		return then
	}
	return func(s *sdxl.Step) { first(s); then(s) }
}

// progressBar draws "[####------] 3/10 2.31 it/s ETA 0:03" on a terminal, redrawn in
// place with \r. It draws nothing when w is not a terminal or quiet is set.
type progressBar struct {
	w       io.Writer
	on      bool
	total   int
	started time.Time
	now     func() time.Time
}

func newProgressBar(w io.Writer, quiet bool) *progressBar {
	return &progressBar{w: w, on: !quiet && isCharDevice(w), now: time.Now}
}

// isCharDevice reports whether w is a character device (a terminal, not a file or pipe).
func isCharDevice(w io.Writer) bool {
	f, ok := w.(*os.File)
	if !ok {
		return false
	}
	st, err := f.Stat()
	return err == nil && st.Mode()&os.ModeCharDevice != 0
}

func (b *progressBar) start(total int) {
	b.total, b.started = total, b.now()
	if b.on {
		fmt.Fprint(b.w, "\r"+renderProgress(0, total, 0))
	}
}

func (b *progressBar) update(s *sdxl.Step) {
	if b.on {
		// \x1b[K clears what a longer previous line left behind.
		fmt.Fprint(b.w, "\r"+renderProgress(s.Index+1, b.total, b.now().Sub(b.started))+"\x1b[K")
	}
}

func (b *progressBar) finish() {
	if b.on {
		fmt.Fprintln(b.w)
	}
}

// renderProgress formats one bar line after done of total steps took elapsed.
func renderProgress(done, total int, elapsed time.Duration) string {
	const width = 30
	filled := 0
	if total > 0 {
		filled = width * done / total
	}
	line := fmt.Sprintf("[%s%s] %d/%d", strings.Repeat("#", filled), strings.Repeat("-", width-filled), done, total)
	if done == 0 || elapsed <= 0 {
		return line + " --.-- it/s ETA --:--"
	}
	rate := float64(done) / elapsed.Seconds()
	eta := time.Duration(float64(total-done) / rate * float64(time.Second)).Round(time.Second)
	return fmt.Sprintf("%s %.2f it/s ETA %d:%02d", line, rate, int(eta.Minutes()), int(eta.Seconds())%60)
}
