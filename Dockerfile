# syntax=docker/dockerfile:1
# Licensor's image: `licensor serve` by default; the same image runs `licensor worker` and
# `licensor migrate` (deploy/compose.yaml, docs/deploy.md). No key is in it: keys come
# from secrets mounted at run time (LICENSOR_KEYS_DIR).
#
#   docker build -t licensor .

# First stage: the wheels of Licensor and of everything it needs (each dependency ships
# a binary wheel for Linux, so no compiler is needed).
FROM python:3.11-slim-bookworm AS build
WORKDIR /src
COPY pyproject.toml README.md ./
COPY src ./src
RUN pip wheel --no-cache-dir --wheel-dir /wheels '.[redis]'

FROM python:3.11-slim-bookworm
# Tesseract reads the license key from support screenshots (licensor worker).
RUN apt-get update \
    && apt-get install -y --no-install-recommends tesseract-ocr tesseract-ocr-eng \
    && rm -rf /var/lib/apt/lists/*
# A fixed uid, so key files mounted from the host can be given to it (docs/deploy.md).
RUN groupadd --system --gid 10001 licensor \
    && useradd --system --uid 10001 --gid licensor --home-dir /var/lib/licensor \
        --shell /usr/sbin/nologin licensor \
    && install -d -m 0700 -o licensor -g licensor \
        /var/lib/licensor /var/lib/licensor/var /var/lib/licensor/keys
# Installed from the first stage's wheels alone, which stay out of this image's layers.
RUN --mount=type=bind,from=build,source=/wheels,target=/wheels \
    pip install --no-cache-dir --no-index --find-links /wheels 'licensor[redis]'

ENV PYTHONUNBUFFERED=1 \
    PYTHONDONTWRITEBYTECODE=1 \
    LICENSOR_VAR_DIR=/var/lib/licensor/var \
    LICENSOR_KEYS_DIR=/var/lib/licensor/keys \
    LICENSOR_LOG_FORMAT=json
USER licensor
WORKDIR /var/lib/licensor
EXPOSE 8000
# /healthz: the process answers (slim has no curl; Python is there).
HEALTHCHECK --interval=15s --timeout=3s --start-period=20s --retries=3 \
    CMD ["python", "-c", "import urllib.request; urllib.request.urlopen('http://127.0.0.1:8000/healthz', timeout=2)"]
CMD ["licensor", "serve", "--host", "0.0.0.0", "--port", "8000"]
