# One image for every part of Aftercare: the API (the default command), the worker, the staff
# dashboard and the migrations, chosen by the command (README, "Deploy"):
#
#   docker build -t aftercare .
#   docker run ... aftercare                        # the API on :8000 (needs DATABASE_URL, AFTERCARE_SECRET_KEY)
#   docker run ... aftercare worker                 # the background jobs
#   docker run ... aftercare dashboard --host 0.0.0.0 --port 8501
#   docker run ... aftercare db upgrade             # apply pending migrations, then exit
#
# Two stages: the builder installs the project and its locked dependencies into a venv; the
# runtime stage copies that venv onto a clean slim image, so pip's caches, the wheel build
# and anything a build needed stay behind.

ARG PYTHON_IMAGE=python:3.11-slim

# --- builder -------------------------------------------------------------------------------
FROM ${PYTHON_IMAGE} AS builder

ENV PIP_DISABLE_PIP_VERSION_CHECK=1 \
    PIP_ROOT_USER_ACTION=ignore \
    PYTHONDONTWRITEBYTECODE=1
RUN python -m venv /opt/venv
ENV PATH=/opt/venv/bin:$PATH
WORKDIR /src

# The dependencies first, from pyproject.toml alone, pinned by requirements.lock: this layer is
# rebuilt only when either file changes, not on every change to the code.
COPY pyproject.toml requirements.lock ./
RUN --mount=type=cache,target=/root/.cache/pip \
    python -c "import tomllib; print('\n'.join(tomllib.load(open('pyproject.toml', 'rb'))['project']['dependencies']))" \
        > /tmp/dependencies.txt \
    && pip install -c requirements.lock -r /tmp/dependencies.txt

# Then the project itself (a regular install, not editable: the runtime stage has no sources).
# README.md is the package's long description (pyproject.toml's `readme`).
COPY README.md ./
COPY api ./api
COPY db ./db
COPY notifications ./notifications
COPY admin_dashboard ./admin_dashboard
# EXTRAS: optional parts, e.g. `docker build --build-arg EXTRAS=tracing .` for OpenTelemetry.
ARG EXTRAS=""
RUN --mount=type=cache,target=/root/.cache/pip \
    pip install -c requirements.lock ".${EXTRAS:+[$EXTRAS]}" \
    && pip check

# --- runtime -------------------------------------------------------------------------------
FROM ${PYTHON_IMAGE} AS runtime

LABEL org.opencontainers.image.title="aftercare" \
      org.opencontainers.image.description="Aftercare: the API, the worker, the staff dashboard and the migrations" \
      org.opencontainers.image.licenses="Apache-2.0"

# A fixed, numeric, unprivileged user: Kubernetes' runAsNonRoot can check a number, not a name.
RUN groupadd --system --gid 10001 aftercare \
    && useradd --system --uid 10001 --gid aftercare --home-dir /home/aftercare --create-home \
        --shell /usr/sbin/nologin aftercare

COPY --from=builder /opt/venv /opt/venv

# PATH's last entry: the pg_dump and pg_restore (PostgreSQL 16) that come inside the pgserver
# wheel, so `aftercare db backup` and `db restore` work in this image against a server of
# version 16 or older (README, "Backups"); nothing else of it is used with DATABASE_URL set.
ENV PATH=/opt/venv/bin:$PATH:/opt/venv/lib/python3.11/site-packages/pgserver/pginstall/bin \
    PYTHONUNBUFFERED=1 \
    PYTHONDONTWRITEBYTECODE=1 \
    HOME=/home/aftercare

USER 10001:10001
WORKDIR /home/aftercare

# 8000: the API (`serve`); 8501: the staff dashboard (`dashboard`).
EXPOSE 8000 8501

# The API's liveness (no curl in a slim image: Python asks). The worker has no HTTP port and
# the dashboard another one: compose.yaml and the Kubernetes manifests give each its own check.
HEALTHCHECK --interval=30s --timeout=5s --start-period=20s --retries=3 \
    CMD ["python", "-c", "import sys, urllib.request; sys.exit(0 if urllib.request.urlopen('http://127.0.0.1:8000/health/live', timeout=4).status == 200 else 1)"]

ENTRYPOINT ["aftercare"]
CMD ["serve", "--host", "0.0.0.0", "--port", "8000"]
