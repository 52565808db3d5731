# Steward image: the same lock and the same `make install` as a developer machine, then `steward up`.
#   docker build -t steward .                       (CPU; llama.cpp built portable: GGML_NATIVE=OFF)
#   docker build --build-arg CUDA=1 -t steward .    (llama.cpp built with CUDA; needs a CUDA base image
#                                                    via --build-arg BASE=nvidia/cuda:...-devel-ubuntu22.04
#                                                    with python3.11 installed)
ARG BASE=python:3.11-slim
FROM ${BASE}

ARG CUDA=0
ENV PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1 \
    MLFLOW_DISABLE_TELEMETRY=true \
    LITELLM_LOCAL_MODEL_COST_MAP=True \
    HF_HUB_OFFLINE=1 \
    TRANSFORMERS_OFFLINE=1 \
    ANONYMIZED_TELEMETRY=False \
    STEWARD_HOME=/data \
    STEWARD_API_HOST=0.0.0.0

RUN apt-get update \
 && apt-get install -y --no-install-recommends build-essential cmake make git pkg-config libicu-dev \
 && rm -rf /var/lib/apt/lists/* \
 && useradd --create-home --uid 10001 steward \
 && mkdir -p /data /app && chown steward:steward /data /app

WORKDIR /app
COPY --chown=steward:steward pyproject.toml requirements.lock Makefile README.md ./
COPY --chown=steward:steward runtime ./runtime
COPY --chown=steward:steward agents ./agents
COPY --chown=steward:steward tools ./tools
COPY --chown=steward:steward guards ./guards
COPY --chown=steward:steward server ./server
COPY --chown=steward:steward evals ./evals

# The same install as `make install` (requirements.lock, then the project without deps).
RUN if [ "$CUDA" = "1" ]; then export CMAKE_ARGS="-DGGML_CUDA=on"; else export CMAKE_ARGS="-DGGML_NATIVE=OFF"; fi \
 && make install VENV=/opt/venv PYTHON=python3.11 \
 && chown -R steward:steward /opt/venv

USER steward
VOLUME ["/data"]
# API + console, Temporal gRPC, Temporal UI
EXPOSE 8000 7233 8233
HEALTHCHECK --interval=30s --timeout=5s --start-period=60s --retries=3 \
  CMD ["/opt/venv/bin/python", "-c", "import urllib.request,sys; sys.exit(0 if urllib.request.urlopen('http://127.0.0.1:8000/health', timeout=4).status == 200 else 1)"]
CMD ["/opt/venv/bin/steward", "up"]
