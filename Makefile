# firstclaim: the two commands are `make demo` and `make test`.
.PHONY: demo demo-cluster test deps build bench bench-attribution bench-reports bench-links bench-cluster soak fuzz clean

demo: ## run the demo: local ClickHouse, sample links, served on 127.0.0.1:8080
	scripts/demo

demo-cluster: ## two edges on a local ClickHouse cluster (ZooKeeper, 2 shards x 2 replicas), sample links, on 127.0.0.1:8080 and :8081
	scripts/demo-cluster

test: ## run every test (installs what is missing, starts a throwaway ClickHouse)
	scripts/test

deps: ## install test and demo dependencies
	scripts/deps

build: ## build the binary into bin/
	CGO_ENABLED=0 go build -trimpath -o bin/firstclaim ./cmd/firstclaim

bench: ## the redirect path beside nginx and a bare fasthttp server (bench/results/DATE-redirect.md)
	bench/run

soak: ## 30 minutes at half the maximum rate from a million visitors: memory levels off, every click stored (bench/results/DATE-soak.md)
	bench/soak

bench-attribution: ## attribution of 1M orders against 10M clicks (bench/results/DATE-attribution.md)
	bench/attribution

bench-links: ## start-up and memory with 1M links from a file, from ClickHouse, from the snapshot (bench/results/DATE-links.md)
	bench/links

bench-cluster: ## clicks/s from two edges through one server and a cluster, and report latency on both (bench/results/DATE-cluster.md)
	bench/cluster/run

bench-reports: ## report latency over 100M clicks, with rollups and without (bench/results/DATE-reports.md)
	bench/reports

fuzz: ## run every fuzzer of the module for FUZZTIME (default 60s) each
	scripts/fuzz

clean:
	rm -rf bin
