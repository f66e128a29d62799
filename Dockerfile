# Images of the compose stack. `worker`: the Faust worker and the dashboard (no torch);
# `trainer`: the offline trainer and exporter (torch, CUDA wheels from PyPI).
FROM python:3.11.7-slim-bookworm AS base
WORKDIR /app
ENV PYTHONUNBUFFERED=1 PIP_NO_CACHE_DIR=1
COPY pyproject.toml README.md ./
COPY stream ./stream
COPY model ./model

FROM base AS worker
RUN pip install .
RUN useradd -r -u 10001 emostream
USER emostream
EXPOSE 6066 8080
CMD ["emostream", "worker"]

FROM base AS trainer
RUN pip install '.[train]'
CMD ["emostream", "train", "--help"]
