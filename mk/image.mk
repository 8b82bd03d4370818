# The image, tested: `make test-image` builds docker/Dockerfile with podman and runs tests_image/ against
# containers of it (non-root, probes, a score over HTTP and gRPC, read-only root, SIGTERM; docs/deploy.md).
# Not part of `make test` (it needs podman); .ci/run runs it after `make test` where it can.
#
# On the project's machines (no public registry), ../shared/tools/container-base.sh installs podman, builds
# a local stand-in for the base image and writes the containers.conf podman needs there; when that script
# exists this target runs it first and uses that configuration with the runc runtime. Elsewhere it uses
# podman as it is set up (the base image comes from Docker Hub).
CONTAINER_BASE ?= ../shared/tools/container-base.sh
TEST_IMAGE ?= localhost/turnscore:test-image
PODMAN ?= podman
ifneq ($(wildcard $(CONTAINER_BASE)),)
PODMAN := $(PODMAN) --runtime runc
export CONTAINERS_CONF ?= $(HOME)/.config/containers/containers.conf
endif

.PHONY: test-image image-build

image-build:
	@if [ -f $(CONTAINER_BASE) ]; then bash $(CONTAINER_BASE); fi
	$(PODMAN) build --format docker --network host -f docker/Dockerfile -t $(TEST_IMAGE) .

test-image: $(STAMP) image-build
	$(VENV)/bin/mypy tests_image
	TURNSCORE_IMAGE=$(TEST_IMAGE) PODMAN="$(PODMAN)" $(PY) -m pytest -q tests_image
