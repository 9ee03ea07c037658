# Paimon in a container. Build: docker build -t paimon .   (--build-arg PYTHON_VERSION=3.11|3.12)
# tests/deploy/test_docker_image.py runs these same steps without Docker (the build as root,
# then the server as uid 10001) and fails when this file and its steps differ.
ARG PYTHON_VERSION=3.13
FROM python:${PYTHON_VERSION}-slim

ENV PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1 \
    VIRTUAL_ENV=/opt/venv \
    PATH=/opt/venv/bin:$PATH \
    PAIMON_DATA_DIR=/data

WORKDIR /app
COPY . .

# The same build as Render and bare metal: hashed lock, no source builds, doctor (which
# checks a scratch directory, so /data stays empty: no install secret baked in, each
# volume makes its own on first start). /data is the one place the user writes.
RUN python -m venv /opt/venv \
    && PYTHON=/opt/venv/bin/python scripts/build \
    && mkdir -p /data \
    && chown 10001:10001 /data

# A numeric user with no home it can write: Paimon needs none (gunicorn's control
# socket is off in gunicorn.conf.py). A new named volume starts as this /data.
USER 10001:10001
VOLUME ["/data"]
EXPOSE 8000

# PAIMON_PORT wins over PORT, as in Paimon's settings.
HEALTHCHECK --interval=30s --timeout=5s --start-period=20s --retries=3 \
    CMD ["python", "-c", "import os, urllib.request; port = os.environ.get('PAIMON_PORT') or os.environ.get('PORT') or '8000'; urllib.request.urlopen('http://127.0.0.1:%s/healthz' % port, timeout=4)"]

CMD ["gunicorn", "-c", "gunicorn.conf.py", "wsgi:app"]
