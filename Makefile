# Convenience targets; each is a thin wrapper over a script or a command documented in the README.
.PHONY: help dev test test-fast ci lint kind kind-down

help:
	@echo "make dev       - the local system (control plane, operator, sidecar, examples): memories dev"
	@echo "make test      - the test suite (scripts/test: set-up first, then every test)"
	@echo "make test-fast - the unit and sidecar tests, without set-up, control plane or real node (needs .venv)"
	@echo "make lint      - the linters exactly as CI runs them (scripts/lint)"
	@echo "make ci        - what CI runs (.ci/run)"
	@echo "make kind      - a kind cluster with the operator installed and a demo workload (needs docker)"
	@echo "make kind-down - delete that kind cluster"

dev:
	.venv/bin/memories dev

test:
	bash scripts/test

test-fast:
	.venv/bin/python -m pytest -q -m "not controlplane and not realnode" tests/unit tests/sidecar

ci:
	bash .ci/run

lint:
	bash scripts/lint

kind:
	bash scripts/kind-up

kind-down:
	kind delete cluster --name memories
