# The site and the worker share this image; docker-compose.yml picks the command.
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

RUN useradd --create-home --uid 1000 app && mkdir -p /app/var /app/staticfiles && chown -R app /app/var /app/staticfiles
USER app

EXPOSE 8000
CMD ["python", "-m", "polypharmacy_site.serve", "--host", "0.0.0.0", "--port", "8000"]
