# latexblend — make help lists the targets.
SHELL := /bin/bash
GO    ?= go
BIN   := bin/latexblend

# Build with OpenBLAS when Debian's libopenblas-dev is installed, else pure Go.
HAVE_OPENBLAS := $(shell ldconfig -p 2>/dev/null | grep -q 'libopenblas\.so ' && echo yes)
ifeq ($(BLAS),gonum)
  HAVE_OPENBLAS :=
endif
ifeq ($(HAVE_OPENBLAS),yes)
  BLAS_BACKEND := openblas
  GOTAGS       := -tags openblas
  export CGO_LDFLAGS := -lopenblas
else
  BLAS_BACKEND := gonum (pure Go)
  GOTAGS       :=
endif

TEST_TIMEOUT ?= 25m

.PHONY: help build test test-purego-nn bench proto verify-proto lint demo clean

help: ## list the targets
	@grep -E '^[a-z-]+:.*## ' $(MAKEFILE_LIST) | sed -E 's/:.*## /\t/' | expand -t 18

build: ## build bin/latexblend (OpenBLAS when installed; BLAS=gonum forces pure Go)
	@echo "BLAS backend: $(BLAS_BACKEND)"
	$(GO) build $(GOTAGS) -o $(BIN) ./cmd/latexblend

test: ## run every test with the chosen BLAS backend, then the nn tests with pure Go
	@echo "BLAS backend: $(BLAS_BACKEND)"
	$(GO) test $(GOTAGS) -count=1 -timeout $(TEST_TIMEOUT) ./...
	$(MAKE) --no-print-directory test-purego-nn

test-purego-nn: ## run the nn package's tests with the pure-Go BLAS
	@echo "BLAS backend: gonum (pure Go) for ./nn/..."
	CGO_LDFLAGS= $(GO) test -count=1 -timeout $(TEST_TIMEOUT) ./nn/...

# The sampler benchmark's model: the shapes world's own when present, else the tiny random
# reference model. `bench train` runs on the reference model (its tokenizer has the
# default init token "ktn"); without ../shared/golden it is skipped. `make demo` picks its
# model as the sampler benchmark does (scripts/demo.sh); DEMO_MODEL=DIR overrides it.
BENCH_MODEL       ?= $(patsubst %/model_index.json,%,$(firstword $(wildcard shapes/model/model_index.json ../shared/golden/tiny-sdxl/model_index.json)))
BENCH_TRAIN_MODEL ?= $(patsubst %/model_index.json,%,$(wildcard ../shared/golden/tiny-sdxl/model_index.json))
BENCH_TRAIN        = $(BIN) bench train --model $(BENCH_TRAIN_MODEL) --steps 3 --ranks 1,2 --resolution 32
DEMO_MODEL  ?=

bench: build ## run every benchmark once at a small size (a few minutes; each prints a key=value last line)
	$(BIN) bench gemm --m 256 --n 256 --k 256 --reps 3
	$(BIN) bench text --skip-sdxl --runs 5
	$(BIN) bench unet --gemm 256 --reps 1 --tiny-size 16 --mid-size 8
	$(BIN) bench allreduce --ranks 4 --size 4194304 --reps 3
	$(if $(BENCH_TRAIN_MODEL),$(BENCH_TRAIN),@echo "bench train skipped: it needs ../shared/golden/tiny-sdxl")
	$(BIN) bench blend --concepts 0,2 --reps 2 --size 16
	$(BIN) bench sampler $(if $(BENCH_MODEL),--model $(BENCH_MODEL)) --batches 1,4 --requests 4 --reps 1 --load-samples 10 --steps 2

proto: ## regenerate the gRPC code from proto/ with pinned generators
	./scripts/genproto.sh

verify-proto: ## fail when the committed generated code differs from a fresh generation
	./scripts/verify-proto.sh

lint: ## go vet and a gofmt check
	$(GO) vet $(GOTAGS) ./...
	@out=$$(gofmt -l $$(git ls-files '*.go')); if [ -n "$$out" ]; then echo "gofmt needed:"; echo "$$out"; exit 1; fi

demo: build ## the whole mission on one machine: dev cluster, onboard 2 concepts on 2 trainers, generate a grid, judge it
	DEMO_MODEL="$(DEMO_MODEL)" ./scripts/demo.sh

clean: ## remove build outputs
	rm -rf bin tools/.bin .demo
