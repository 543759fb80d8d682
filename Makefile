# ztagent — see README.md. `make run` starts what exists; `make test` runs every tier.
SHELL := /bin/bash
GO ?= go
BIN := bin
PKGS := ./...
# Tests that need a real Secret Service, Chromium or WireGuard fail instead of
# skipping under make test, so a green run means they ran.
TEST_ENV := ZTAGENT_REQUIRE_REAL_DEPS=1

.PHONY: cross tray-screenshot demo bench-all all build run stop test test-unit bench deps deps-check lint fmt fuzz clean

all: build

build:
	@mkdir -p $(BIN)
	$(GO) build $(PKGS)
	@for d in cmd/*/; do [ -d "$$d" ] || continue; $(GO) build -o $(BIN)/ ./$$d || exit 1; done

EXAMPLE := examples/acme
# make run keeps its state here, out of the way of a system install.
RUNDIR := .run

# make run: edged and agentd on the example, in the foreground (Ctrl-C or
# closing the terminal stops both); make run DETACH=1 returns once both
# answer. make stop stops either kind. Listen addresses: see scripts/run.sh.
run: build
	@BIN=$(BIN) RUN=$(RUNDIR) EXAMPLE=$(EXAMPLE) DETACH=$(DETACH) scripts/run.sh

stop:
	@RUN=$(RUNDIR) scripts/stop.sh

deps:
	@scripts/deps.sh

deps-check:
	@scripts/deps.sh --check

lint:
	@out=$$(gofmt -l $$(find . -name '*.go' -not -path './.git/*')); \
		if [ -n "$$out" ]; then echo "gofmt would change:"; echo "$$out"; exit 1; fi
	$(GO) vet $(PKGS)
	$(GO) tool staticcheck $(PKGS)
	@$(MAKE) --no-print-directory cross

# make cross: every package builds, vets and passes staticcheck for each
# released system (make lint runs it). Tests that need Linux (a Secret
# Service, network namespaces) say so with build constraints; the rest are
# vetted everywhere. staticcheck is built for this machine once, then
# loads each target's packages; U1000 is left to the Linux run, which sees
# the tests that use test-only helpers.
CROSS := linux/arm64 darwin/amd64 darwin/arm64 windows/amd64 windows/arm64
cross:
	@mkdir -p $(BIN)
	@$(GO) build -o $(BIN)/staticcheck honnef.co/go/tools/cmd/staticcheck
	@for t in $(CROSS); do \
		os=$${t%/*}; arch=$${t#*/}; echo "cross $$os/$$arch: build, vet, staticcheck"; \
		GOOS=$$os GOARCH=$$arch CGO_ENABLED=0 $(GO) build ./... || exit 1; \
		GOOS=$$os GOARCH=$$arch CGO_ENABLED=0 $(GO) vet ./... || exit 1; \
		GOOS=$$os GOARCH=$$arch CGO_ENABLED=0 $(BIN)/staticcheck -tests=false -checks=inherit,-U1000 ./... || exit 1; \
	done

# make test: lint, install missing Debian packages, then every test tier with
# the race detector.
test:
	@scripts/deps.sh --check 2>/dev/null || $(MAKE) --no-print-directory deps
	@$(MAKE) --no-print-directory lint
	$(TEST_ENV) $(GO) test -race -count=1 -timeout 15m $(PKGS)

# Quick tier for the edit-compile loop: no race detector, short crash test.
test-unit:
	$(GO) test -short $(PKGS)

# make tray-screenshot: docs/tray-menu.png, the tray's menu at a moment of
# expiry in a real panel (Xfce's Status Tray under Xvfb), taken by
# test/e2e's TestE2E_TrayScreenshot; it installs the desktop packages first.
tray-screenshot:
	@for t in Xvfb xfce4-panel import xdotool; do command -v $$t >/dev/null || missing=1; done; \
		if [ -n "$$missing" ]; then apt-get install -y --no-install-recommends xvfb xfce4-panel imagemagick xdotool; fi
	ZTAGENT_TRAY_SCREENSHOT=$(CURDIR)/docs/tray-menu.png $(GO) test -count=1 -run TestE2E_TrayScreenshot -v ./test/e2e/

# make demo: a scripted story of client sessions with the real binaries.
demo:
	$(GO) run ./demo

# make bench: the benchmarks of DESIGN §12 side by side, one table (ours,
# baseline, ratio), also written to docs/BENCH.md. bench-all runs every
# benchmark of the tree once.
bench:
	@mkdir -p docs
	$(GO) run ./bench/benchtable -count 3 -o docs/BENCH.md

bench-all:
	$(GO) test -run '^$$' -bench . -benchmem $(PKGS)

# Run each fuzz target for FUZZTIME (go test already runs their seed corpora).
FUZZTIME ?= 30s
FUZZ_TARGETS := FuzzDecodeRequest:./pkg/ipc/ FuzzValidateBrowseURL:./internal/browseurl/ FuzzCompile:./pkg/policy/ \
	FuzzLoadTerraform:./pkg/tfconfig/ FuzzLoadSim:./pkg/tfconfig/ FuzzLine:./internal/termsafe/ \
	FuzzParse:./pkg/mdm/
fuzz:
	@for t in $(FUZZ_TARGETS); do \
		echo "fuzz: $${t%%:*} for $(FUZZTIME)"; \
		$(GO) test -run '^$$' -fuzz "^$${t%%:*}$$" -fuzztime $(FUZZTIME) "$${t#*:}" || exit 1; \
	done

clean:
	rm -rf $(BIN)
