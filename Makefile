# Convenience targets; each is a thin wrapper over a script or a command documented in the README.
.PHONY: help dev test ci kind kind-down lint

help:
	@echo "make dev       - the local system (control plane, operator, sidecar, examples): memories dev"
	@echo "make test      - the test suite (scripts/test)"
	@echo "make ci        - what CI runs (.ci/run)"
	@echo "make kind      - a kind cluster with the operator installed and a demo workload (needs docker)"
	@echo "make kind-down - delete that kind cluster"

dev:
	.venv/bin/memories dev

test:
	bash scripts/test

ci:
	bash .ci/run

lint:
	.venv/bin/ruff check memories tests bench && .venv/bin/mypy

kind:
	bash scripts/kind-up

kind-down:
	kind delete cluster --name memories
