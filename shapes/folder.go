package shapes

import (
	"bytes"
	"encoding/json"
	"fmt"
	"image"
	"image/draw"
	"image/png"
	"os"
	"path/filepath"
)

// ScenesFile is the JSON-lines file WriteSamples writes next to the images: one line per
// sample with its file, caption and objects.
const ScenesFile = "scenes.jsonl"

// objectJSON is an object in ScenesFile, with names instead of indices.
type objectJSON struct {
	Class   string `json:"class"`
	Color   string `json:"color"`
	Texture string `json:"texture"`
	X       int    `json:"x"`
	Y       int    `json:"y"`
	R       int    `json:"r"`
}

type sceneLine struct {
	File    string       `json:"file"`
	Caption string       `json:"caption"`
	Objects []objectJSON `json:"objects"`
}

// WriteSamples writes each sample to dir as NAME.png and NAME.txt (the caption, one
// line) and lists all of them in dir/scenes.jsonl. dir is created when missing.
func WriteSamples(dir string, samples []Sample) error {
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return fmt.Errorf("shapes: %w", err)
	}
	var lines bytes.Buffer
	enc := json.NewEncoder(&lines)
	for _, s := range samples {
		if err := WritePNG(filepath.Join(dir, s.Name+".png"), s.Image); err != nil {
			return err
		}
		if err := os.WriteFile(filepath.Join(dir, s.Name+".txt"), []byte(s.Caption+"\n"), 0o644); err != nil {
			return fmt.Errorf("shapes: %w", err)
		}
		line := sceneLine{File: s.Name + ".png", Caption: s.Caption}
		for _, o := range s.Scene.Objects {
			line.Objects = append(line.Objects, objectJSON{
				Class: o.Class.String(), Color: o.ColorName(), Texture: o.Texture.String(), X: o.X, Y: o.Y, R: o.R,
			})
		}
		if err := enc.Encode(line); err != nil {
			return fmt.Errorf("shapes: %w", err)
		}
	}
	if err := os.WriteFile(filepath.Join(dir, ScenesFile), lines.Bytes(), 0o644); err != nil {
		return fmt.Errorf("shapes: %w", err)
	}
	return nil
}

// WritePNG encodes img to path.
func WritePNG(path string, img image.Image) error {
	var buf bytes.Buffer
	if err := png.Encode(&buf, img); err != nil {
		return fmt.Errorf("shapes: encoding %s: %w", path, err)
	}
	if err := os.WriteFile(path, buf.Bytes(), 0o644); err != nil {
		return fmt.Errorf("shapes: %w", err)
	}
	return nil
}

// Grid lays images out in rows of cols with a pad-pixel white border, for contact sheets.
func Grid(imgs []image.Image, cols, pad int) *image.RGBA {
	if len(imgs) == 0 || cols <= 0 {
		return image.NewRGBA(image.Rect(0, 0, 0, 0))
	}
	cw, ch := 0, 0
	for _, im := range imgs {
		cw, ch = max(cw, im.Bounds().Dx()), max(ch, im.Bounds().Dy())
	}
	rows := (len(imgs) + cols - 1) / cols
	out := image.NewRGBA(image.Rect(0, 0, cols*(cw+pad)+pad, rows*(ch+pad)+pad))
	draw.Draw(out, out.Bounds(), image.White, image.Point{}, draw.Src)
	for i, im := range imgs {
		x, y := pad+(i%cols)*(cw+pad), pad+(i/cols)*(ch+pad)
		draw.Draw(out, image.Rect(x, y, x+cw, y+ch), im, im.Bounds().Min, draw.Src)
	}
	return out
}
