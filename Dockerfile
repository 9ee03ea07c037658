# Paimon in a container. Build: docker build -t paimon .   (--build-arg PYTHON_VERSION=3.11|3.12)
ARG PYTHON_VERSION=3.13
FROM python:${PYTHON_VERSION}-slim

ENV PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1 \
    VIRTUAL_ENV=/opt/venv \
    PATH=/opt/venv/bin:$PATH \
    PAIMON_DATA_DIR=/data

WORKDIR /app
COPY . .

# The same build as Render and bare metal: hashed lock, no source builds, doctor.
RUN python -m venv /opt/venv \
    && PYTHON=/opt/venv/bin/python scripts/build \
    && useradd --system --uid 10001 --home-dir /app paimon \
    && mkdir -p /data \
    && chown paimon /data

USER 10001
VOLUME ["/data"]
EXPOSE 8000

HEALTHCHECK --interval=30s --timeout=5s --start-period=20s --retries=3 \
    CMD ["python", "-c", "import os, urllib.request; urllib.request.urlopen('http://127.0.0.1:%s/healthz' % os.environ.get('PORT', '8000'), timeout=4)"]

CMD ["gunicorn", "-c", "gunicorn.conf.py", "wsgi:app"]
