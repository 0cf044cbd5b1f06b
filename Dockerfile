# Recondesk web, worker and beat image (the same image; docker-compose.yml picks the command).
FROM python:3.11-slim-bookworm

ENV PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1 \
    PIP_DISABLE_PIP_VERSION_CHECK=1

WORKDIR /app
RUN useradd --system --create-home --home-dir /home/recondesk recondesk

COPY requirements.lock ./
RUN pip install --no-cache-dir --no-deps --require-hashes -r requirements.lock && pip check

COPY . .
# Static files are gathered at build time (hashed names, compressed); the URLs are placeholders so
# that settings load without contacting any server.
RUN STATIC_MANIFEST=true \
    DATABASE_URL=postgres://build@localhost/build \
    REDIS_URL=redis://localhost:6379/0 \
    python manage.py collectstatic --noinput --verbosity 0 \
 && mkdir -p /var/lib/recondesk/reports /var/lib/recondesk/uploads /var/lib/recondesk/metrics \
 && chown -R recondesk /var/lib/recondesk

USER recondesk
ENV STATIC_MANIFEST=true \
    REPORTS_DIR=/var/lib/recondesk/reports \
    UPLOAD_STAGING_DIR=/var/lib/recondesk/uploads \
    AUDIT_HEAD_EXPORT_PATH=/var/lib/recondesk/audit-head.jsonl \
    PROMETHEUS_MULTIPROC_DIR=/var/lib/recondesk/metrics
EXPOSE 8000
# Settings (worker class, threads, timeouts) and why: config/gunicorn.py.
CMD ["gunicorn", "-c", "config/gunicorn.py", "config.wsgi"]
