package clip

import (
	"testing"

	"github.com/latexblend/latexblend/model/diffusers"
)

// benchmarkEncoder times Encode of one 77-token prompt with random weights.
func benchmarkEncoder(b *testing.B, cfg diffusers.CLIPTextConfig) {
	e, err := NewTextEncoder(cfg)
	if err != nil {
		b.Fatal(err)
	}
	defer e.Close()
	e.Model.InitRandom(1)
	ids := benchIDs(1, e.Model.MaxLength(), e.Model.NumTokens())
	if _, err := e.Encode(ids); err != nil { // compile outside the timing
		b.Fatal(err)
	}
	b.ResetTimer()
	for b.Loop() {
		if _, err := e.Encode(ids); err != nil {
			b.Fatal(err)
		}
	}
	b.ReportMetric(e.Model.ForwardFLOPs(1, len(ids[0]))*float64(b.N)/b.Elapsed().Seconds()/1e9, "GFLOP/s")
}

// BenchmarkTextEncoderTiny is one tiny-sdxl text_encoder_2 forward (32 wide, 5 layers).
func BenchmarkTextEncoderTiny(b *testing.B) { benchmarkEncoder(b, TinyTextConfig(true)) }

// BenchmarkTextEncoderCLIPL is one SDXL text_encoder forward (CLIP ViT-L/14 text).
func BenchmarkTextEncoderCLIPL(b *testing.B) { benchmarkEncoder(b, CLIPViTLTextConfig()) }

// BenchmarkTextEncoderBigG is one SDXL text_encoder_2 forward (OpenCLIP bigG/14 text,
// 2.8 GB of float32 weights).
func BenchmarkTextEncoderBigG(b *testing.B) { benchmarkEncoder(b, OpenCLIPBigGTextConfig()) }
