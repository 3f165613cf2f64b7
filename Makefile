# waymark: `make test` installs what the tests need, then runs all of them,
# integration included (real PostgreSQL). CI runs exactly this.
GO      ?= go
PKGS    ?= ./...
TIMEOUT ?= 20m

.PHONY: test test-deps vet lint bench build fuzz

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

# Short runs of every fuzz target (longer: make fuzz FUZZTIME=5m).
FUZZTIME ?= 20s
FUZZ_TARGETS = domain:FuzzTrackingName dnsserver:FuzzReply track:FuzzDecode track:FuzzAltered \
	track:FuzzRewriteHTML track:FuzzMessage dkim:FuzzRelaxedBody dkim:FuzzSignVerify bounce:FuzzParse
fuzz:
	@set -e; for t in $(FUZZ_TARGETS); do \
		echo "fuzz $$t"; \
		$(GO) test -run '^$$' -fuzz "^$${t#*:}$$" -fuzztime $(FUZZTIME) ./internal/$${t%%:*}/; \
	done

bench: test-deps
	bash scripts/bench-deps
	bash scripts/bench
