package main

import (
	"encoding/json"
	"fmt"
	"image"
	"io"
	"strings"

	"github.com/spf13/cobra"

	"github.com/latexblend/latexblend/model/sdxl"
	"github.com/latexblend/latexblend/shapes"
	"github.com/latexblend/latexblend/shapes/judge"
)

func init() { subcommands = append(subcommands, newDemoCmd) }

// newDemoCmd groups the helpers of `make demo` (scripts/demo.sh).
func newDemoCmd() *cobra.Command {
	cmd := &cobra.Command{
		Use:   "demo",
		Short: "Helpers of `make demo` (scripts/demo.sh)",
	}
	cmd.AddCommand(newDemoVerdictCmd())
	return cmd
}

func newDemoVerdictCmd() *cobra.Command {
	var (
		weights  string
		concepts []string
	)
	cmd := &cobra.Command{
		Use:   "verdict GRID.png --concept NOUN=NAME...",
		Short: "Ask the shapes judge what it sees in each image of a generated grid",
		Long: "Split a grid written by `generate --cluster` into its images (the layout is read from the PNG's\n" +
			"latexblend.grid text; a PNG without it is one image), run the shapes-world judge on each, and say for\n" +
			"every --concept NOUN=NAME (NAME a shapes-world concept such as checker-star) whether its texture is on\n" +
			"an object of its class, whether the asked classes are present, and whether a concept's texture bled onto\n" +
			"another object. The last line is key=value.",
		Args: cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			want, err := parseVerdictConcepts(concepts)
			if err != nil {
				return err
			}
			img, err := readPNG(args[0])
			if err != nil {
				return err
			}
			cols, rows, n, err := gridLayout(args[0], img)
			if err != nil {
				return err
			}
			j, err := judge.LoadOrDefault(weights)
			if err != nil {
				return err
			}
			defer j.Close()
			cells, err := splitGrid(img, cols, rows, n)
			if err != nil {
				return fmt.Errorf("demo verdict: %s: %w", args[0], err)
			}
			vs, err := j.Predict(cells)
			if err != nil {
				return err
			}
			return writeVerdicts(cmd.OutOrStdout(), args[0], cols, vs, want)
		},
	}
	cmd.Flags().StringVar(&weights, "weights", "", "judge weights (safetensors; default: the committed judge built into the binary)")
	cmd.Flags().StringArrayVar(&concepts, "concept", nil, "NOUN=NAME: a concept asked for in the prompt, NAME a shapes-world concept (repeatable)")
	cmd.MarkFlagRequired("concept")
	return cmd
}

// parseVerdictConcepts reads --concept NOUN=NAME flags into shapes-world concepts and
// checks that each noun is its concept's class.
func parseVerdictConcepts(flags []string) ([]shapes.Concept, error) {
	var out []shapes.Concept
	for _, f := range flags {
		noun, name, ok := strings.Cut(f, "=")
		if !ok || noun == "" || name == "" {
			return nil, fmt.Errorf("demo verdict: --concept %q: want NOUN=NAME", f)
		}
		c, err := shapes.LookupConcept(name)
		if err != nil {
			return nil, fmt.Errorf("demo verdict: --concept %q: the judge knows only the shapes-world concepts %v", f, shapes.ConceptNames())
		}
		if c.Class.String() != noun {
			return nil, fmt.Errorf("demo verdict: --concept %q: %s is a %s, not a %s", f, name, c.Class, noun)
		}
		out = append(out, c)
	}
	return out, nil
}

// gridLayout reads the grid's columns, rows and image count from its latexblend.grid
// text chunk; a PNG without one is a single image.
func gridLayout(path string, img image.Image) (cols, rows, n int, err error) {
	texts, err := sdxl.ReadPNGTextFile(path)
	if err != nil {
		return 0, 0, 0, err
	}
	for _, t := range texts {
		if t.Key != GridKey {
			continue
		}
		var g struct{ Cols, Rows, Images int }
		if err := json.Unmarshal([]byte(t.Text), &g); err != nil {
			return 0, 0, 0, fmt.Errorf("demo verdict: %s: text %s: %w", path, GridKey, err)
		}
		if g.Cols < 1 || g.Rows < 1 || g.Images < 1 || g.Images > g.Cols*g.Rows {
			return 0, 0, 0, fmt.Errorf("demo verdict: %s: text %s: layout %d×%d with %d images is not a grid", path, GridKey, g.Cols, g.Rows, g.Images)
		}
		return g.Cols, g.Rows, g.Images, nil
	}
	return 1, 1, 1, nil
}

// splitGrid cuts the first n cells of a cols×rows grid, row-major.
func splitGrid(img image.Image, cols, rows, n int) ([]image.Image, error) {
	b := img.Bounds()
	if b.Dx()%cols != 0 || b.Dy()%rows != 0 {
		return nil, fmt.Errorf("a %dx%d image does not split into %d×%d equal cells", b.Dx(), b.Dy(), cols, rows)
	}
	w, h := b.Dx()/cols, b.Dy()/rows
	out := make([]image.Image, n)
	for i := range n {
		at := b.Min.Add(image.Pt((i%cols)*w, (i/cols)*h))
		out[i] = subImage(img, image.Rectangle{Min: at, Max: at.Add(image.Pt(w, h))})
	}
	return out, nil
}

// subImage is a view of r when the image type offers one, else a copy.
func subImage(img image.Image, r image.Rectangle) image.Image {
	if s, ok := img.(interface {
		SubImage(image.Rectangle) image.Image
	}); ok {
		return s.SubImage(r)
	}
	dst := image.NewRGBA(image.Rectangle{Max: r.Size()})
	for y := r.Min.Y; y < r.Max.Y; y++ {
		for x := r.Min.X; x < r.Max.X; x++ {
			dst.Set(x-r.Min.X, y-r.Min.Y, img.At(x, y))
		}
	}
	return dst
}

// imageVerdict is what the judge says about one image relative to the asked concepts.
type imageVerdict struct {
	found    []bool // per asked concept: its texture on an object of its class
	classes  bool   // every asked class is present
	bleeding []string
}

func (v imageVerdict) allFound() bool {
	for _, f := range v.found {
		if !f {
			return false
		}
	}
	return true
}

func judgeImage(v judge.Verdict, want []shapes.Concept) imageVerdict {
	iv := imageVerdict{found: make([]bool, len(want)), classes: true}
	for i, c := range want {
		iv.found[i] = v.ConceptFound(c)
		iv.classes = iv.classes && v.HasClass(c.Class)
		for _, k := range v.Bleeds(c) {
			iv.bleeding = append(iv.bleeding, fmt.Sprintf("%s@%s", c.Texture, k))
		}
	}
	return iv
}

// writeVerdicts prints one line per image and a key=value summary.
func writeVerdicts(w io.Writer, path string, cols int, vs []judge.Verdict, want []shapes.Concept) error {
	var nFound, nClasses, nBleed int
	perConcept := make([]int, len(want))
	for i, v := range vs {
		iv := judgeImage(v, want)
		var parts []string
		for k, c := range want {
			state := "missing"
			if iv.found[k] {
				state, perConcept[k] = "found", perConcept[k]+1
			}
			parts = append(parts, c.Name+"="+state)
		}
		classes := "all asked classes present"
		if !iv.classes {
			classes = "an asked class is missing"
		}
		bleed := "no bleeding"
		if len(iv.bleeding) > 0 {
			bleed, nBleed = "bleeding "+strings.Join(iv.bleeding, ","), nBleed+1
		}
		if iv.allFound() {
			nFound++
		}
		if iv.classes {
			nClasses++
		}
		seen := strings.Join(v.Present(), " ")
		if seen == "" {
			seen = "nothing"
		}
		if _, err := fmt.Fprintf(w, "image %d (column %d, row %d): %s; %s; %s; judge sees: %s\n",
			i, i%cols, i/cols, strings.Join(parts, " "), classes, bleed, seen); err != nil {
			return err
		}
	}
	line := fmt.Sprintf("grid=%s images=%d all_concepts_found=%d classes_present=%d bleeding=%d", path, len(vs), nFound, nClasses, nBleed)
	for k, c := range want {
		line += fmt.Sprintf(" found_%s=%d", c.Name, perConcept[k])
	}
	_, err := fmt.Fprintln(w, line)
	return err
}
