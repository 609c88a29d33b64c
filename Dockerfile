# syntax=docker/dockerfile:1.7
# Two images from one file, both running `memories` (ENTRYPOINT):
#   agent    (`--target agent`)  the sidecar agent: the package and its base dependencies only (requirements.lock);
#   operator (the default target) the operator: the same plus the `operator` extra (requirements-operator.lock). It
#            can run the agent too, so a chart installed with one image (`make kind`) injects that image.
# Build stages compile the project's wheel (with its C extensions) once and install each environment from its locks.
ARG PYTHON_IMAGE=python:3.11.11-slim-bookworm

FROM ${PYTHON_IMAGE} AS build
ENV PIP_NO_CACHE_DIR=1 PIP_DISABLE_PIP_VERSION_CHECK=1
WORKDIR /src
# A C compiler and OpenJPEG's headers for the C extensions (memories/**/_*.c); the images have no compiler.
# Python's headers come with the official python images; a Debian base image with Debian's python3 (how
# scripts/node-images builds this file without a registry) needs python3-dev for them. Versions come from the base image's Debian release.
# hadolint ignore=DL3008,SC2086
RUN apt-get update \
    && headers="$(python -c 'import sysconfig; print(sysconfig.get_paths()["include"])')/Python.h" \
    && python_dev="$([ -f "$headers" ] || echo python3-dev)" \
    && apt-get install --yes --no-install-recommends gcc libc6-dev libopenjp2-7-dev $python_dev \
    && rm -rf /var/lib/apt/lists/*
RUN python -m venv /opt/memories \
    && /opt/memories/bin/pip install --upgrade pip==25.3

# The project's wheel, built once for both environments.
FROM build AS wheel
COPY pyproject.toml README.md ./
COPY memories ./memories
RUN /opt/memories/bin/pip wheel --no-deps --wheel-dir /wheels .

# The agent's environment: the base dependencies and the package (no extra).
FROM build AS agent-environment
COPY requirements.lock ./
RUN /opt/memories/bin/pip install --no-deps -r requirements.lock
COPY --from=wheel /wheels /wheels
RUN /opt/memories/bin/pip install --no-deps /wheels/*.whl \
    && /opt/memories/bin/pip check \
    && /opt/memories/bin/python -m pip uninstall --yes --quiet pip setuptools \
    && find /opt/memories -name '__pycache__' -prune -exec rm -rf {} +

# The operator's environment: the same plus the operator extra's pins.
FROM build AS operator-environment
COPY requirements.lock requirements-operator.lock ./
RUN /opt/memories/bin/pip install --no-deps -r requirements.lock -r requirements-operator.lock
COPY --from=wheel /wheels /wheels
RUN /opt/memories/bin/pip install --no-deps /wheels/*.whl \
    && /opt/memories/bin/pip check \
    && /opt/memories/bin/python -m pip uninstall --yes --quiet pip setuptools \
    && find /opt/memories -name '__pycache__' -prune -exec rm -rf {} +

# What both images share: no compilers, no pip (the environments drop it), a non-root user.
FROM ${PYTHON_IMAGE} AS runtime
ARG VERSION=0.1.0
LABEL org.opencontainers.image.title="memories-optimizer" \
      org.opencontainers.image.description="Kubernetes operator and sidecar agent: caching, pools, compression, dedup, prefetch" \
      org.opencontainers.image.version="${VERSION}" \
      org.opencontainers.image.licenses="Apache-2.0" \
      org.opencontainers.image.source="https://github.com/memories-dev/memories-optimizer"
# libopenjp2, which the compiled JPEG 2000 encoder links (memories/optimization/compression/_openjpeg.c).
# hadolint ignore=DL3008
RUN apt-get update \
    && apt-get install --yes --no-install-recommends libopenjp2-7 \
    && rm -rf /var/lib/apt/lists/* \
    && groupadd --system --gid 65532 memories \
    && useradd --system --uid 65532 --gid 65532 --no-create-home --shell /usr/sbin/nologin memories
ENV PATH=/opt/memories/bin:$PATH \
    PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1
USER 65532:65532
EXPOSE 6380 8750 9750 9443
ENTRYPOINT ["memories"]

FROM runtime AS agent
COPY --from=agent-environment /opt/memories /opt/memories
CMD ["sidecar"]

FROM runtime AS operator
COPY --from=operator-environment /opt/memories /opt/memories
CMD ["operator"]
