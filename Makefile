# Vigil: `make demo` and `make test` do all set-up on a fresh Debian machine.
SWIFT ?= swift
APT_PACKAGES := mosquitto mosquitto-clients libmosquitto-dev libyaml-dev libssl-dev zlib1g-dev pkg-config prometheus prometheus-alertmanager openssl
SUDO := $(shell [ "$$(id -u)" = 0 ] || echo sudo)

.PHONY: all deps build release test demo bench loadtest chaos fuzz clean

all: build

# Installs the Debian packages Vigil builds and tests with, only when one is missing.
deps:
	@missing=""; for p in $(APT_PACKAGES); do dpkg -s $$p >/dev/null 2>&1 || missing="$$missing $$p"; done; \
	if [ -n "$$missing" ]; then \
		echo "installing:$$missing"; \
		$(SUDO) apt-get update -qq && DEBIAN_FRONTEND=noninteractive $(SUDO) apt-get install -y -qq $$missing; \
	fi
	@command -v $(SWIFT) >/dev/null || { echo "swift is not on PATH (Swift 6.2 or later is needed)"; exit 1; }

build: deps
	$(SWIFT) build

release: deps
	$(SWIFT) build -c release

test: deps
	$(SWIFT) build --build-tests
	$(SWIFT) test --skip-build

demo: release
	bash loadtest/demo

# Load test (docs/loadtest.md): loopback broker, vigil, vigil-loadgen for loadtest/scenarios/$(SCENARIO).yaml, then
# the report (table, loadtest/out/report.md, loadtest/out/report.svg). E.g. make loadtest SCENARIO=soak.
SCENARIO ?= default
loadtest: release
	SCENARIO=$(SCENARIO) bash loadtest/run

# Benchmarks (docs/benchmarks.md): release build, then every mode; e.g. make bench BENCH_ARGS=--quick.
bench: deps
	$(SWIFT) build -c release --product vigil-bench
	"$$($(SWIFT) build -c release --show-bin-path)/vigil-bench" $(BENCH_ARGS)

# Fault injection for CHAOS_MINUTES (docs/reliability.md): broker restarts and crashes, vigil restarts, webhook
# outages, and a device-id cardinality attack; prints a table of what was sent, processed and lost per fault
# (also written to .build/chaos.md).
CHAOS_MINUTES ?= 5
chaos: deps
	$(SWIFT) build --build-tests
	VIGIL_CHAOS_MINUTES=$(CHAOS_MINUTES) VIGIL_CHAOS_REPORT=$(CURDIR)/.build/chaos.md \
		$(SWIFT) test --skip-build --filter "ChaosTests|CardinalityAttackTests"
	@cat .build/chaos.md

# libFuzzer targets in Fuzz/ (Fuzz/README.md), FUZZ_SECONDS each (default 600).
FUZZ_SECONDS ?= 600
fuzz: deps
	bash Fuzz/build.sh
	FUZZ_SECONDS=$(FUZZ_SECONDS) bash Fuzz/run.sh

clean:
	rm -rf .build loadtest/out
