# Images of the compose stack. `worker`: the Faust worker, the aggregator and the dashboard (no torch);
# `trainer`: the offline trainer and exporter (torch, CUDA wheels from PyPI).
# BASE: production builds FROM the official Python image; the compose tests pass a Debian base built locally
# (scripts/docker-engine.sh base), since no registry image can be pulled there. A base without Python gets Debian's.
ARG BASE=python:3.11.7-slim-bookworm
FROM ${BASE} AS base
ENV PYTHONUNBUFFERED=1 PIP_NO_CACHE_DIR=1 PATH=/opt/venv/bin:$PATH
RUN if ! command -v python3 >/dev/null; then \
      apt-get update -qq && apt-get install -y -qq --no-install-recommends python3 python3-venv ca-certificates \
      && rm -rf /var/lib/apt/lists/*; \
    fi && python3 -m venv /opt/venv
WORKDIR /app
COPY pyproject.toml README.md ./
COPY contracts ./contracts
COPY model ./model
COPY stream ./stream
COPY devstack ./devstack

FROM base AS worker
# Faust's state folder must be writable by the unprivileged user (the default, .stack/faust, is a dev path)
ENV EMOSTREAM_DATADIR=/tmp/emostream-faust
RUN pip install -q .
RUN useradd -r -u 10001 emostream
USER emostream
EXPOSE 6066 8080
CMD ["emostream", "worker"]

FROM base AS trainer
RUN pip install -q '.[train]'
CMD ["emostream", "train", "--help"]
