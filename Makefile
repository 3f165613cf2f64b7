# waymark: `make test` installs what the tests need, then runs all of them,
# integration included (real PostgreSQL). CI runs exactly this.
GO      ?= go
PKGS    ?= ./...
TIMEOUT ?= 20m

.PHONY: test test-deps vet lint bench build fuzz dist

test: test-deps lint
	WAYMARK_REQUIRE_PEERS=1 $(GO) test -race -count=1 -timeout $(TIMEOUT) $(PKGS)

test-deps:
	bash scripts/test-deps

vet:
	@fmt="$$(gofmt -l $$(git ls-files '*.go'))"; \
	if [ -n "$$fmt" ]; then echo "gofmt would change:"; echo "$$fmt"; exit 1; fi
	$(GO) vet $(PKGS)

STATICCHECK_VERSION ?= v0.8.2
lint: vet
	$(GO) run honnef.co/go/tools/cmd/staticcheck@$(STATICCHECK_VERSION) $(PKGS)

build:
	$(GO) build -o bin/waymark ./cmd/waymark

# A static, versioned binary with the deployment files, as a tarball:
# dist/waymark-$(VERSION)-linux-amd64.tar.gz. The binary records its VCS
# revision (waymark version prints it): from go's VCS stamping, and from
# git rev-parse where that is off (a git worktree, GOFLAGS=-buildvcs=false).
VERSION ?= $(shell git describe --tags --always --dirty 2>/dev/null || echo dev)
REVISION ?= $(shell git rev-parse HEAD 2>/dev/null)
GOOS    ?= $(shell $(GO) env GOOS)
GOARCH  ?= $(shell $(GO) env GOARCH)
DIST    ?= dist
DISTNAME = waymark-$(VERSION)-$(GOOS)-$(GOARCH)
dist:
	rm -rf $(DIST)/$(DISTNAME)
	mkdir -p $(DIST)/$(DISTNAME)
	CGO_ENABLED=0 GOOS=$(GOOS) GOARCH=$(GOARCH) $(GO) build -buildvcs=true -trimpath \
		-ldflags "-s -w -X main.version=$(VERSION) -X main.revision=$(REVISION)" -o $(DIST)/$(DISTNAME)/waymark ./cmd/waymark
	mkdir -p $(DIST)/$(DISTNAME)/docs
	cp README.md deploy/waymark.service deploy/waymark.env $(DIST)/$(DISTNAME)/
	cp docs/*.md $(DIST)/$(DISTNAME)/docs/
	tar -C $(DIST) -czf $(DIST)/$(DISTNAME).tar.gz $(DISTNAME)
	@echo "dist: $(DIST)/$(DISTNAME).tar.gz"

# Short runs of every fuzz target (longer: make fuzz FUZZTIME=5m).
FUZZTIME ?= 20s
FUZZ_TARGETS = domain:FuzzTrackingName dnsserver:FuzzReply track:FuzzDecode track:FuzzAltered \
	track:FuzzRewriteHTML track:FuzzMessage ingest:FuzzDecode dkim:FuzzRelaxedBody dkim:FuzzSignVerify bounce:FuzzParse
fuzz:
	@set -e; for t in $(FUZZ_TARGETS); do \
		echo "fuzz $$t"; \
		$(GO) test -run '^$$' -fuzz "^$${t#*:}$$" -fuzztime $(FUZZTIME) ./internal/$${t%%:*}/; \
	done

bench: test-deps
	bash scripts/bench-deps
	bash scripts/bench
