package trainer

import (
	"context"
	"image/png"
	"os"
	"testing"
)

func TestPreviewRendersTrainedWeights(t *testing.T) {
	tr := newTestTrainer(t, testRecipe(1), nil)
	pv, err := tr.NewPreviewer(t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	path, err := pv.Render(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	f, err := os.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	img, err := png.Decode(f)
	if err != nil {
		t.Fatal(err)
	}
	if b := img.Bounds(); b.Dx() != 32 || b.Dy() != 32 {
		t.Errorf("preview is %v, want 32x32", b)
	}
	if pv.Prompt != "photo of <new1> dog" {
		t.Errorf("preview prompt %q", pv.Prompt)
	}
}
