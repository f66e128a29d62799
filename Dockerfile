# Images of the compose stack. `worker`: the Faust worker, the aggregator and the dashboard: contracts/, core/ and
# stream/ only (no trainer, no torch); `trainer`: the offline trainer and exporter (torch, CUDA wheels from PyPI) and
# the whole `emostream` command.
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
COPY core ./core
COPY stream ./stream

FROM base AS worker
# Faust's state folder must be writable by the unprivileged user (the default, .stack/faust, is a dev path)
ENV EMOSTREAM_DATADIR=/tmp/emostream-faust
# `emostream` here is the stream's command table (worker, aggregator, dashboard, produce, tail, contract, settings)
RUN pip install -q . && ln -sf emostream-stream /opt/venv/bin/emostream
RUN useradd -r -u 10001 emostream
USER emostream
EXPOSE 6066 8080
CMD ["emostream", "worker"]

FROM base AS trainer
COPY triton_runner ./triton_runner
COPY model ./model
COPY devstack ./devstack
COPY emostream ./emostream
RUN pip install -q '.[train]'
CMD ["emostream", "train", "--help"]
