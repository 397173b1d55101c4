# The site and the worker share this image; docker-compose.yml picks the command. On its own (a
# Hugging Face Space, `docker run -p 8000:8000`, OpenEnv's validator) it starts by itself: the
# entrypoint migrates a database (SQLite under var/ by default, or DATABASE_URL's) and loads the
# catalogs, then serves on port 8000.
FROM python:3.11-slim

ENV PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1 \
    PIP_NO_CACHE_DIR=1 \
    PIP_DISABLE_PIP_VERSION_CHECK=1
# torch's CPU wheels (the site never needs CUDA).
ARG PIP_EXTRA_INDEX_URL=https://download.pytorch.org/whl/cpu

WORKDIR /app
COPY requirements.txt .
RUN pip install -r requirements.txt
COPY . .
# Static files collected once, into the image: a read-only container cannot write them later. And a
# seed SQLite database, migrated and loaded: the entrypoint starts a new SQLite database from it.
RUN python manage.py collectstatic --noinput -v 0 \
    && POLYPHARMACY_VAR_DIR=/app/seed python manage.py prepare_database \
    && rm -rf var seed/audit seed/celery seed/artifacts

# uid 1000: the user Hugging Face Spaces run containers as.
RUN useradd --create-home --uid 1000 app && mkdir -p /app/var && chown -R app /app/var
USER app

EXPOSE 8000
ENTRYPOINT ["bin/docker-entrypoint"]
CMD ["python", "-m", "polypharmacy_site.serve", "--host", "0.0.0.0", "--port", "8000"]
