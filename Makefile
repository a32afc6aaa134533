# tfgate: the two commands a newcomer needs are `make run` and `make test`.

GO        ?= go
BIN       ?= bin
VERSION   ?= $(shell git describe --tags --always --dirty 2>/dev/null || echo dev)
LDFLAGS   := -X main.version=$(VERSION)
# A count, not a duration: Go 1.26's fuzzer can fail a timed run with
# "context deadline exceeded" (golang/go#75804).
FUZZTIME  ?= 200000x
BENCHTIME ?= 3s
BENCH_CONCURRENCY ?= 1,16,64

.PHONY: all build run test deps lint unit nested policy-test deploy-test manifests bench gobench fuzz soak clean

all: build

## build: compile extauthz and the load generator into ./bin
build:
	$(GO) build -ldflags "$(LDFLAGS)" -o $(BIN)/extauthz ./cmd/extauthz
	$(GO) build -o $(BIN)/tfgate-bench ./cmd/tfgate-bench

## run: the whole product on one machine (no config, no Redis, no IdP): tfgate,
## the development IdP, a development proxy in Envoy's place on 8501/8500, and
## a TF Serving stand-in serving half_plus_two. Other ports: make run ARGS="--rest 127.0.0.1:18501"
## (extauthz dev --help lists the flags)
run:
	$(GO) run -ldflags "$(LDFLAGS)" ./cmd/extauthz dev $(ARGS)

## test: lint, every Go test (real redis-server, real OPA, real gRPC), the Rego
## policy tests, and the deployment files checked by rendering (deploy-test)
test: deps lint policy-test unit deploy-test

## deps: the system packages the tests use (redis-server, pysaml2, chromium...): installed when
## run as root on Debian, otherwise named with the command to install them
deps:
	@scripts/install-deps.sh

lint:
	$(GO) vet ./...
	@out="$$(gofmt -l $$(git ls-files '*.go' 2>/dev/null || find . -name '*.go'))"; \
	if [ -n "$$out" ]; then echo "gofmt needed on:"; echo "$$out"; exit 1; fi

unit:
	$(GO) test -count=1 -timeout 10m ./...
	$(MAKE) nested

## nested: the test-only Go modules beside the main one (heavy dependencies
## such as Prometheus stay out of tfgate's build): vet and test each
NESTED ?= deploy/observability
nested:
	@set -e; for m in $(NESTED); do \
	  echo "== $$m"; \
	  (cd $$m && $(GO) vet ./... && $(GO) test -count=1 -timeout 10m ./...); \
	done

policy-test:
	$(GO) run ./cmd/extauthz policy test

## deploy-test: the Helm chart rendered for every example values file, the plain
## manifests, Istio and Envoy Gateway objects, decoded strictly into their API
## types and cross-checked (a nested module: Helm and the Kubernetes, Istio and
## Envoy Gateway APIs stay out of the main module). No cluster is involved.
deploy-test:
	cd deploy/validate && $(GO) vet ./... && $(GO) test -count=1 -timeout 15m ./...

## manifests: copy the alert rules and the dashboard (deploy/observability, the single
## source) into the chart's files/, and regenerate deploy/kubernetes/tfgate.yaml from the
## chart's defaults
manifests:
	cp deploy/observability/alerts.yaml deploy/observability/grafana-dashboard.json deploy/helm/tfgate/files/
	cd deploy/validate && $(GO) run ./cmd/manifests ../helm/tfgate ../kubernetes/tfgate.yaml

## bench: the load generator (tfgate vs a no-op ext_authz server) and the Go benchmarks
bench:
	$(GO) run ./cmd/tfgate-bench -duration $(BENCHTIME) -concurrency $(BENCH_CONCURRENCY)
	$(GO) test -run '^$$' -bench . -benchmem ./authz/... ./rego/... ./envoy/...

## soak: SOAKTIME (default 10m) of mixed traffic against extauthz serve with Redis on loopback,
## printing RSS, goroutines and Redis keys at the start, every minute and at the end
SOAKTIME ?= 10m
soak:
	$(GO) build -o $(BIN)/extauthz ./cmd/extauthz
	$(GO) run ./cmd/tfgate-soak -duration $(SOAKTIME) -extauthz $(BIN)/extauthz

## fuzz: every fuzz target briefly (FUZZTIME each)
fuzz:
	@set -e; for pkg in $$($(GO) list ./...); do \
	  for f in $$($(GO) test -list '^Fuzz' $$pkg 2>/dev/null | grep '^Fuzz' || true); do \
	    echo "== $$pkg $$f"; \
	    $(GO) test -run '^$$' -fuzz "^$$f$$" -fuzztime $(FUZZTIME) $$pkg; \
	  done; \
	done

clean:
	rm -rf $(BIN)
