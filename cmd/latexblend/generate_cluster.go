package main

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"image"
	"image/draw"
	"image/png"
	"math"
	"os"
	"path/filepath"
	"strings"
	"time"

	"github.com/spf13/cobra"
	"google.golang.org/protobuf/encoding/protojson"
	"google.golang.org/protobuf/proto"

	"github.com/latexblend/latexblend/model/schedule"
	"github.com/latexblend/latexblend/model/sdxl"
	pb "github.com/latexblend/latexblend/proto/latexblend/v1"
	"github.com/latexblend/latexblend/sampler"
	"github.com/latexblend/latexblend/service"
)

func init() {
	generateExtensions = append(generateExtensions, func() generateExtension { return &clusterExtension{} })
}

// GridKey is the PNG text keyword of a --cluster grid's layout and the sampler's Done.
const GridKey = "latexblend.grid"

// clusterExtension is `generate --cluster`: the request goes to the sampler fleet
// (discovered in etcd, routed by the cached concepts and queue depth) instead of a local
// model, with --concept NOUN=NAME naming concepts in the bank. generate.go has no
// remote mode, so the extension wraps the command's RunE when --cluster is given.
type clusterExtension struct {
	cluster bool
	client  clientFlags
	mode    string
	n       int
}

func (e *clusterExtension) AddFlags(cmd *cobra.Command) {
	f := cmd.Flags()
	f.BoolVar(&e.cluster, "cluster", false, "generate on the sampler fleet (--concept NOUN=NAME names bank concepts; the output is a grid of the --n images)")
	f.StringSliceVar(&e.client.etcd, "etcd", nil, "with --cluster: etcd client URLs (default: the dev cluster's endpoints file)")
	f.StringVar(&e.client.token, "token", "", "with --cluster: bearer token (default $"+service.TokenEnv+", then the dev cluster's)")
	f.BoolVar(&e.client.tls, "tls", false, "with --cluster: use TLS to reach the samplers")
	f.StringVar(&e.client.tlsCA, "tls-ca", "", "with --cluster: CA (PEM) to verify the samplers' certificates")
	f.StringVar(&e.mode, "mode", "", "with --cluster: replace, guidance, rectification or guidance+rectification (default replace; also set by --blending-guidance / --self-rectification)")
	f.IntVar(&e.n, "n", 0, "with --cluster: number of images in the grid (same as --num-images)")
	local := cmd.RunE
	cmd.RunE = func(cmd *cobra.Command, args []string) error {
		if !e.cluster {
			for _, name := range []string{"etcd", "token", "tls", "tls-ca", "mode", "n"} {
				if cmd.Flags().Changed(name) {
					return fmt.Errorf("generate: --%s needs --cluster", name)
				}
			}
			return local(cmd, args)
		}
		return e.run(cmd)
	}
}

func (e *clusterExtension) Apply(context.Context, *cobra.Command, *sdxl.Pipeline, *sdxl.Request) (string, any, error) {
	return "", nil, nil
}

// request builds the GenerateRequest from the command's flags. Flags left at their
// defaults leave the field unset, so the sampler applies the API's defaults.
func (e *clusterExtension) request(cmd *cobra.Command) (*pb.GenerateRequest, error) {
	fl := cmd.Flags()
	for _, name := range []string{"model", "variant", "init-latents", "out-latents", "config", "cluster-seed"} {
		if fl.Changed(name) {
			return nil, fmt.Errorf("generate: --%s is not supported with --cluster (the samplers hold the model)", name)
		}
	}
	str := func(name string) string { v, _ := fl.GetString(name); return v }
	num := func(name string) int { v, _ := fl.GetInt(name); return v }
	flt := func(name string) float64 { v, _ := fl.GetFloat64(name); return v }
	on := func(name string) bool { v, _ := fl.GetBool(name); return v }
	if !fl.Changed("prompt") {
		return nil, fmt.Errorf("generate: --prompt TEXT is required")
	}
	req := &pb.GenerateRequest{Prompt: str("prompt"), NegativePrompt: str("negative-prompt"), Width: int32(num("width")), Height: int32(num("height"))}
	if fl.Changed("steps") {
		req.Steps = int32(num("steps"))
	}
	if fl.Changed("cfg") {
		req.GuidanceScale = proto.Float32(float32(flt("cfg")))
	}
	if fl.Changed("seed") {
		s, _ := fl.GetUint64("seed")
		req.Seed = proto.Uint64(s)
	}
	switch {
	case fl.Changed("n") && fl.Changed("num-images") && e.n != num("num-images"):
		return nil, fmt.Errorf("generate: --n %d and --num-images %d disagree", e.n, num("num-images"))
	case fl.Changed("n"):
		req.NumImages = int32(e.n)
	case fl.Changed("num-images"):
		req.NumImages = int32(num("num-images"))
	}
	if s := str("scheduler"); s != "" {
		k, err := parseSchedulerFlag(s)
		if err != nil {
			return nil, err
		}
		req.Scheduler = map[schedule.Kind]pb.Scheduler{schedule.KindEuler: pb.Scheduler_SCHEDULER_EULER,
			schedule.KindDDIM: pb.Scheduler_SCHEDULER_DDIM, schedule.KindDDPM: pb.Scheduler_SCHEDULER_DDPM}[k]
	}
	concepts, _ := fl.GetStringArray("concept")
	for _, c := range concepts {
		noun, name, ok := strings.Cut(c, "=")
		if !ok || strings.TrimSpace(noun) == "" || strings.TrimSpace(name) == "" {
			return nil, fmt.Errorf("generate: --concept %q: want NOUN=NAME (a concept in the bank)", c)
		}
		req.Concepts = append(req.Concepts, &pb.ConceptBinding{ClassNoun: strings.TrimSpace(noun), Concept: strings.TrimSpace(name)})
	}
	guidance, rectify, err := parseMode(e.mode)
	if err != nil {
		return nil, err
	}
	guidance = guidance || on("blending-guidance")
	rectify = rectify || on("self-rectification")
	b := &pb.BlendOptions{DisableBinding: on("no-binding"), DisablePlaces: on("no-places"), ReferenceCompat: on("reference-compat")}
	if fl.Changed("blending-start") {
		b.BlendingStart = proto.Float32(float32(flt("blending-start")))
	}
	if guidance {
		b.BlendingGuidance = &pb.BlendingGuidance{Enabled: true}
		if fl.Changed("guidance-steps") {
			b.BlendingGuidance.GuidanceSteps = int32(num("guidance-steps"))
		}
		if fl.Changed("guidance-stepsize") {
			b.BlendingGuidance.GuidanceStepsize = float32(flt("guidance-stepsize"))
		}
	}
	if rectify {
		b.SelfRectification = &pb.SelfRectification{Enabled: true}
		if fl.Changed("rectification-start") {
			b.SelfRectification.RectificationStart = float32(flt("rectification-start"))
		}
	}
	if len(req.Concepts) == 0 {
		for _, name := range []string{"mode", "blending-guidance", "self-rectification", "reference-compat", "no-binding", "no-places", "blending-start"} {
			if fl.Changed(name) {
				return nil, fmt.Errorf("generate: --%s needs concepts (--concept NOUN=NAME)", name)
			}
		}
	} else {
		req.Blend = b
	}
	if err := req.Validate(); err != nil {
		return nil, fmt.Errorf("generate: %w", err)
	}
	return req, nil
}

// parseMode reads --mode: "replace" plus any of "guidance" and "rectification", joined
// with "+".
func parseMode(s string) (guidance, rectify bool, err error) {
	if s == "" {
		return false, false, nil
	}
	for _, part := range strings.Split(strings.ToLower(s), "+") {
		switch strings.TrimSpace(part) {
		case "replace":
		case "guidance":
			guidance = true
		case "rectification":
			rectify = true
		default:
			return false, false, fmt.Errorf("generate: --mode %q: want replace, guidance, rectification or guidance+rectification", s)
		}
	}
	return guidance, rectify, nil
}

func (e *clusterExtension) run(cmd *cobra.Command) error {
	ctx := cmd.Context()
	if ctx == nil {
		ctx = context.Background()
	}
	out, _ := cmd.Flags().GetString("out")
	quiet, _ := cmd.Flags().GetBool("quiet")
	if out == "" {
		return fmt.Errorf("generate: --out GRID.png is required")
	}
	if st, err := os.Stat(filepath.Dir(out)); err != nil || !st.IsDir() {
		return fmt.Errorf("generate: --out %s: the folder %s does not exist", out, filepath.Dir(out))
	}
	req, err := e.request(cmd)
	if err != nil {
		return err
	}
	if len(e.client.etcd) == 0 {
		e.client.coordinator = "" // only etcd matters here
	}
	if err := e.client.resolve(); err != nil {
		return fmt.Errorf("generate --cluster: %w", err)
	}
	if len(e.client.etcd) == 0 {
		return fmt.Errorf("generate --cluster: no etcd endpoints (--etcd URL, or a running `latexblend dev`)")
	}
	cli, err := service.NewEtcdClient(ctx, e.client.etcd, 5*time.Second)
	if err != nil {
		return fmt.Errorf("generate --cluster: %w", err)
	}
	defer cli.Close()
	router, err := sampler.NewRouter(sampler.RouterConfig{Etcd: cli, Client: e.client.clientConfig(nil)})
	if err != nil {
		return err
	}
	defer router.Close()
	bar := newProgressBar(cmd.ErrOrStderr(), quiet)
	started := false
	res, err := router.Generate(ctx, req, func(_ string, p *pb.Progress) {
		if p.GetPhase() != pb.Phase_PHASE_DENOISING {
			return
		}
		if !started || p.Step == 1 { // a retry on another sampler starts over
			bar.start(int(p.Total))
			started = true
		}
		bar.update(&sdxl.Step{Index: int(p.Step) - 1, Total: int(p.Total)})
	})
	if started {
		bar.finish()
	}
	if err != nil {
		return fmt.Errorf("generate --cluster: %w", err)
	}
	grid, cols, rows, err := imageGrid(res.Images)
	if err != nil {
		return fmt.Errorf("generate --cluster: %w", err)
	}
	texts, err := gridText(res, cols, rows)
	if err != nil {
		return fmt.Errorf("generate --cluster: %w", err)
	}
	if err := sdxl.WritePNG(out, grid, texts); err != nil {
		return fmt.Errorf("generate --cluster: --out: %w", err)
	}
	d := res.Done
	r := d.Request
	_, err = fmt.Fprintf(cmd.OutOrStdout(), "out=%s images=%d grid=%dx%d sampler=%s mode=%s width=%d height=%d steps=%d cfg=%g seed=%d unet_batch=%d queue_ms=%d run_ms=%d retries=%d\n",
		out, len(res.Images), cols, rows, d.SamplerId, d.Mode, r.Width, r.Height, r.Steps, r.GetGuidanceScale(), r.GetSeed(),
		d.UnetBatch, d.QueueTime.AsDuration().Milliseconds(), d.RunTime.AsDuration().Milliseconds(), len(res.Attempts))
	return err
}

// imageGrid tiles PNG images row-major into a near-square grid.
func imageGrid(pngs [][]byte) (image.Image, int, int, error) {
	if len(pngs) == 0 {
		return nil, 0, 0, fmt.Errorf("the sampler returned no images")
	}
	imgs := make([]image.Image, len(pngs))
	for i, b := range pngs {
		img, err := png.Decode(bytes.NewReader(b))
		if err != nil {
			return nil, 0, 0, fmt.Errorf("image %d: %w", i, err)
		}
		imgs[i] = img
	}
	cols := int(math.Ceil(math.Sqrt(float64(len(imgs)))))
	rows := (len(imgs) + cols - 1) / cols
	w, h := imgs[0].Bounds().Dx(), imgs[0].Bounds().Dy()
	grid := image.NewRGBA(image.Rect(0, 0, cols*w, rows*h))
	for i, img := range imgs {
		at := image.Pt((i%cols)*w, (i/cols)*h)
		draw.Draw(grid, image.Rectangle{Min: at, Max: at.Add(image.Pt(w, h))}, img, img.Bounds().Min, draw.Src)
	}
	return grid, cols, rows, nil
}

// gridText is the grid's metadata: image 0's text entries (every generation parameter,
// the concepts with their digests, the model and version) plus GridKey with the layout
// and the sampler's Done (the full request with defaults, timings, node).
func gridText(res *sampler.Result, cols, rows int) ([]sdxl.TextChunk, error) {
	texts, err := sdxl.ReadPNGText(bytes.NewReader(res.Images[0]))
	if err != nil {
		return nil, err
	}
	done, err := protojson.Marshal(res.Done)
	if err != nil {
		return nil, err
	}
	g, err := json.Marshal(map[string]any{"cols": cols, "rows": rows, "images": len(res.Images),
		"note": "image i is at column i mod cols, row i div cols; it is the image of seed+i", "done": json.RawMessage(done)})
	if err != nil {
		return nil, err
	}
	return append(texts, sdxl.TextChunk{Key: GridKey, Text: string(g)}), nil
}
