"""The Django project: settings, URLs, ASGI/WSGI entry points and the Celery app."""

# Load the Celery app with Django so that @shared_task binds to it (cookiecutter-django habit).
from polypharmacy_site.celery import app as celery_app

__all__ = ("celery_app",)
