# The API image: `smarttags serve`, with no torch, open_clip or ffmpeg (the API process never
# imports them). Build context: the repository root (see docker/compose.yaml):
#   docker build -f docker/api.Dockerfile -t smarttags-api .
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
ENV PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1 \
    PIP_NO_CACHE_DIR=1 \
    PIP_DISABLE_PIP_VERSION_CHECK=1
COPY --from=wheel /wheels /wheels
# The `indexer` extra (torch, open_clip, ffmpeg) stays out of this image; the `text-encoder`
# extra (ONNX Runtime, tokenizers, Pillow) encodes queries for search by meaning. A plain,
# not editable, install: the mappings and saved objects ship inside the package.
RUN pip install /wheels/smarttags-*.whl && pip install "smarttags[text-encoder]" && rm -rf /wheels

# uid 1000 in both images: files one writes on the shared volumes the other can read
RUN useradd --create-home --uid 1000 smarttags \
    && mkdir -p /data /library && chown smarttags:smarttags /data /library
USER smarttags
WORKDIR /home/smarttags
ENV SMARTTAGS_DATA_DIR=/data \
    SMARTTAGS_LIBRARY_ROOT=/library \
    SMARTTAGS_API_PORT=8000
EXPOSE 8000

HEALTHCHECK --interval=15s --timeout=5s --start-period=20s --retries=5 \
  CMD ["python", "-m", "smarttags.healthcheck", "api"]

CMD ["smarttags", "serve", "--host", "0.0.0.0"]
