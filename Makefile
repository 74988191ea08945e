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

bench: build ## run the benchmarks (each prints a key=value last line)
	$(BIN) bench gemm
	$(BIN) bench allreduce --ranks 4 --size 16777216

proto: ## regenerate the gRPC code from proto/ with pinned generators
	./scripts/genproto.sh

verify-proto: ## fail when the committed generated code differs from a fresh generation
	./scripts/verify-proto.sh

lint: ## go vet and a gofmt check
	$(GO) vet $(GOTAGS) ./...
	@out=$$(gofmt -l $$(git ls-files '*.go')); if [ -n "$$out" ]; then echo "gofmt needed:"; echo "$$out"; exit 1; fi

demo: build ## start the dev cluster, show its members, shut it down
	./scripts/demo.sh

clean: ## remove build outputs
	rm -rf bin tools/.bin .demo
