# punch: the two commands a newcomer needs are `go run ./cmd/punch demo`
# (as root for the NAT lab part) and `make test`.

GO      ?= go
TIMEOUT ?= 45m
# Debian packages the tests need: the NAT lab (iproute2, nftables, conntrack),
# ping, and coturn for the third-party STUN cross-checks.
DEB_PACKAGES := iproute2 nftables conntrack iputils-ping coturn ncat
DEB_COMMANDS := ip nft conntrack ping turnserver turnutils_natdiscovery ncat

.PHONY: all build test deps vet fuzz bench-stun clean

all: build

build:
	$(GO) build -o punch ./cmd/punch

# deps installs the missing Debian packages when run as root; as another
# user it only says what is missing (lab tests then skip and say why).
deps:
	@missing=""; for c in $(DEB_COMMANDS); do command -v $$c >/dev/null 2>&1 || missing="$$missing $$c"; done; \
	if [ -n "$$missing" ]; then \
		if [ "$$(id -u)" = 0 ]; then \
			echo "installing Debian packages for:$$missing"; \
			apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq $(DEB_PACKAGES) >/dev/null; \
		else \
			echo "missing:$$missing (run make test as root to install them and run the lab tests)"; \
		fi; \
	fi

# test runs every test, and the tests of the patches in punch's copy of
# quic-go (third_party/quic-go/PATCHES.md), a module of its own. As root the
# NAT lab tests are required to run (PUNCH_LAB_REQUIRED), so they fail
# rather than skip if a lab cannot be built.
test: deps
	@if [ "$$(id -u)" = 0 ]; then export PUNCH_LAB_REQUIRED=1; fi; \
	$(GO) test -count=1 -timeout $(TIMEOUT) ./... && \
	cd third_party/quic-go && $(GO) test -count=1 ./internal/congestion .

vet:
	gofmt -l . | tee /dev/stderr | (! read)
	$(GO) vet ./...

# fuzz runs every fuzz target for a while.
FUZZTIME ?= 30s
fuzz:
	$(GO) test ./stunserver -run '^$$' -fuzz FuzzServe -fuzztime $(FUZZTIME)
	$(GO) test ./stun -run '^$$' -fuzz FuzzParseResponse -fuzztime $(FUZZTIME)
	$(GO) test ./stun -run '^$$' -fuzz FuzzReadMessage -fuzztime $(FUZZTIME)
	$(GO) test ./stun -run '^$$' -fuzz FuzzSplitHostPort -fuzztime $(FUZZTIME)

clean:
	rm -f punch

# bench-stun measures STUN Binding answers per second, and the CPU they cost,
# of punch server and coturn's turnserver side by side on loopback with the
# same load generator; see BENCHMARKS.md.
bench-stun:
	scripts/bench-stun.sh $(BENCH_DURATION) 2
BENCH_DURATION ?= 10s
