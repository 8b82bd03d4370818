# Deployment: image, compose stack, Kubernetes manifests (docs/deploy.md).
# The checks themselves (hadolint, manifest rendering + schema validation, cross-checks against the code,
# dashboard metric names, the two-replica scale-out test) are tests/deploy, run by `make test-main`; their
# tools come from the `deploy` extra of pyproject.toml (pulled in by `dev`). This file adds the type check
# of tests/deploy to `make test` and a few conveniences.
IMAGE ?= turnscore
IMAGE_TAG ?= $(shell sed -n 's/^version = "\(.*\)"/\1/p' pyproject.toml | head -n1)

TEST_TARGETS += test-deploy-types

.PHONY: test-deploy test-deploy-types hadolint k8s-render docker-build compose-up compose-down

# Only the deployment checks (they are part of `make test` already).
test-deploy: $(STAMP)
	$(PY) -m pytest -q tests/deploy

test-deploy-types: $(STAMP)
	$(VENV)/bin/mypy tests/deploy

hadolint: $(STAMP)
	$(VENV)/bin/hadolint --failure-threshold style docker/Dockerfile

# Rendered manifests on stdout: `make k8s-render K8S_DIR=k8s/overlays/prometheus-operator`.
# Uses kubectl's kustomize when installed, else tests/support/kustomize_lite.py (the subset k8s/ uses).
K8S_DIR ?= k8s
k8s-render: $(STAMP)
	@if command -v kubectl >/dev/null 2>&1; then kubectl kustomize $(K8S_DIR); \
	else $(PY) -m tests.support.kustomize_lite $(K8S_DIR); fi

# Need a Docker engine (not available in CI).
docker-build:
	docker build -f docker/Dockerfile -t $(IMAGE):$(IMAGE_TAG) .

compose-up:
	docker compose -f docker/compose.yaml up --build -d

compose-down:
	docker compose -f docker/compose.yaml down
