// Command export writes the shapes world's base training scenes as raw arrays for the
// PyTorch port in experiments/gpuport (train.py): images.u8 [N, 64, 64, 3] RGB,
// ids1.i32 and ids2.i32 [N, 77] (both tokenizers, padded as SDXL pads) and captions.txt,
// one caption per line. Scene i is shapes.Dataset's item i of the seed, so the first
// 10000 scenes of the default seed are the committed model's latent pool.
//
// It is an experiment aid, not part of latexblend: see experiments/gpuport/README.md.
package main

import (
	"bufio"
	"encoding/binary"
	"errors"
	"flag"
	"fmt"
	"os"
	"path/filepath"
	"time"

	"github.com/latexblend/latexblend/model/clip"
	"github.com/latexblend/latexblend/shapes"
)

// poolSeed is shapes/base's pool stream for seed 1 (Seed ^ poolDataStream in train.go).
const poolSeed = 1 ^ 0x706f6f6c2d646174

func main() {
	n := flag.Int("n", 10000, "number of scenes")
	seed := flag.Uint64("seed", poolSeed, "dataset seed (default: the committed model's pool)")
	model := flag.String("model", "shapes/model", "model folder whose tokenizer/ and tokenizer_2/ encode the captions")
	out := flag.String("out", "gpuport-data", "output folder (created)")
	flag.Parse()
	if err := run(*n, *seed, *model, *out); err != nil {
		fmt.Fprintln(os.Stderr, "export:", err)
		os.Exit(1)
	}
}

func run(n int, seed uint64, model, out string) (err error) {
	start := time.Now()
	tok1, err := clip.LoadTokenizer(filepath.Join(model, "tokenizer"))
	if err != nil {
		return err
	}
	tok2, err := clip.LoadTokenizer(filepath.Join(model, "tokenizer_2"))
	if err != nil {
		return err
	}
	samples, err := shapes.Dataset(seed, n, 64)
	if err != nil {
		return err
	}
	fmt.Fprintf(os.Stderr, "rendered %d scenes in %.1fs\n", n, time.Since(start).Seconds())
	if err := os.MkdirAll(out, 0o755); err != nil {
		return err
	}
	files := map[string]*bufio.Writer{}
	for _, name := range []string{"images.u8", "ids1.i32", "ids2.i32", "captions.txt"} {
		f, err := os.Create(filepath.Join(out, name))
		if err != nil {
			return err
		}
		w := bufio.NewWriterSize(f, 1<<20)
		files[name] = w
		defer func() { err = errors.Join(err, w.Flush(), f.Close()) }()
	}
	ids := make([]int32, 0, 77)
	for _, s := range samples {
		img := s.Image
		for y := img.Rect.Min.Y; y < img.Rect.Max.Y; y++ {
			for x := img.Rect.Min.X; x < img.Rect.Max.X; x++ {
				o := img.PixOffset(x, y)
				if _, err := files["images.u8"].Write(img.Pix[o : o+3]); err != nil {
					return err
				}
			}
		}
		for name, tok := range map[string]*clip.Tokenizer{"ids1.i32": tok1, "ids2.i32": tok2} {
			ids = ids[:0]
			for _, id := range tok.EncodePadded(s.Caption) {
				ids = append(ids, int32(id))
			}
			if err := binary.Write(files[name], binary.LittleEndian, ids); err != nil {
				return err
			}
		}
		if _, err := fmt.Fprintln(files["captions.txt"], s.Caption); err != nil {
			return err
		}
	}
	fmt.Printf("n=%d seed=%d out=%s seconds=%.1f\n", n, seed, out, time.Since(start).Seconds())
	return nil
}
