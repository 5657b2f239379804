# The worker image: `smarttags worker`, with torch (CPU build), open_clip and Debian's ffmpeg.
# Build context: the repository root (see docker/compose.yaml):
#   docker build -f docker/worker.Dockerfile -t smarttags-worker .
FROM python:3.11-slim-bookworm AS wheel
WORKDIR /src
COPY pyproject.toml README.md ./
COPY catalog catalog
COPY query query
COPY indexer indexer
COPY smarttags smarttags
COPY mappings mappings
RUN pip wheel --no-cache-dir --no-deps --wheel-dir /wheels .

FROM python:3.11-slim-bookworm
# torch's CPU-only build; the default index's Linux build brings several GB of CUDA libraries
ARG TORCH_INDEX_URL=https://download.pytorch.org/whl/cpu
ENV PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1 \
    PIP_NO_CACHE_DIR=1 \
    PIP_DISABLE_PIP_VERSION_CHECK=1

# ffmpeg and ffprobe 5.1 from Debian bookworm: probing, keyframes and posters
RUN apt-get update \
    && apt-get install -y --no-install-recommends ffmpeg \
    && rm -rf /var/lib/apt/lists/*
# torch first, so the indexer extra below finds it installed and keeps the CPU build
RUN pip install --index-url "$TORCH_INDEX_URL" torch torchvision
COPY --from=wheel /wheels /wheels
RUN wheel="$(ls /wheels/smarttags-*.whl)" && pip install "${wheel}[indexer]" && rm -rf /wheels

# uid 1000 in both images: files one writes on the shared volumes the other can read
RUN useradd --create-home --uid 1000 smarttags \
    && mkdir -p /data /library /models && chown smarttags:smarttags /data /library /models
USER smarttags
WORKDIR /home/smarttags
ENV SMARTTAGS_DATA_DIR=/data \
    SMARTTAGS_LIBRARY_ROOT=/library \
    SMARTTAGS_WEIGHTS_CACHE_DIR=/models \
    HF_HOME=/models/huggingface

HEALTHCHECK --interval=30s --timeout=10s --start-period=60s --retries=3 \
  CMD ["python", "-m", "smarttags.healthcheck", "worker"]

CMD ["smarttags", "worker"]
