"""Django with the autoscaler's request-queue-time middleware.

In your project's ``settings.py``, put this first in ``MIDDLEWARE`` (first, so that the queue
time is taken before any other middleware runs)::

    MIDDLEWARE = [
        "autoscaler.middleware.DjangoMiddleware",
        # ... your other middleware
    ]

Optional settings: ``AUTOSCALER_REDIS_URL`` (default ``REDIS_TLS_URL``, then ``REDIS_URL``)
and ``AUTOSCALER_WEB_PREFIX``. It works under WSGI (gunicorn) and ASGI (uvicorn, daphne).
Alternatively wrap the application in ``wsgi.py`` / ``asgi.py``, which also times streamed
response bodies::

    application = AutoscalerWSGIMiddleware(get_wsgi_application())   # wsgi.py
    application = AutoscalerASGIMiddleware(get_asgi_application())   # asgi.py

This file is also a complete one-file Django site to try it::

    REDIS_URL=redis://127.0.0.1:6379/0 gunicorn examples.django_settings_snippet:application
    REDIS_URL=redis://127.0.0.1:6379/0 uvicorn examples.django_settings_snippet:asgi_application
    curl -H "X-Request-Start: $(date +%s%3N)" http://127.0.0.1:8000/
"""

# mypy: disable-error-code="import-untyped"
from __future__ import annotations

import os

import django
from django.conf import settings
from django.core.asgi import get_asgi_application
from django.core.wsgi import get_wsgi_application
from django.http import HttpRequest, JsonResponse
from django.urls import path

MIDDLEWARE = [
    "autoscaler.middleware.DjangoMiddleware",
    "django.middleware.common.CommonMiddleware",
]

if not settings.configured:
    settings.configure(
        DEBUG=False,
        SECRET_KEY="example-only-not-secret",  # noqa: S106
        ALLOWED_HOSTS=["*"],
        ROOT_URLCONF=__name__,
        MIDDLEWARE=MIDDLEWARE,
        INSTALLED_APPS=[],
        DATABASES={},
    )
    django.setup()


def index(request: HttpRequest) -> JsonResponse:
    return JsonResponse({"hello": "world", "pid": os.getpid()})


urlpatterns = [path("", index)]

application = get_wsgi_application()
asgi_application = get_asgi_application()
