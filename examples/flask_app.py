"""Flask with the autoscaler's request-queue-time middleware: one line (below ``app = Flask``).

Try it (the app writes request counts to Redis; the autoscaler's ``web`` source reads them)::

    REDIS_URL=redis://127.0.0.1:6379/0 gunicorn --workers 2 --preload examples.flask_app:app
    curl -H "X-Request-Start: $(date +%s%3N)" http://127.0.0.1:8000/

On Heroku the router sets ``X-Request-Start`` and ``REDIS_URL``/``REDIS_TLS_URL``, so the line
below is all there is to do.
"""

from __future__ import annotations

import os
import time

from flask import Flask

from autoscaler.middleware import AutoscalerWSGIMiddleware

app = Flask(__name__)
app.wsgi_app = AutoscalerWSGIMiddleware(app.wsgi_app)  # type: ignore[method-assign]


@app.get("/")
def index() -> dict[str, object]:
    """Which worker process answered (run gunicorn with several workers to see them all)."""
    return {"hello": "world", "pid": os.getpid()}


@app.get("/slow")
def slow() -> dict[str, object]:
    """A request that keeps its worker busy for 200 ms: its app time."""
    time.sleep(0.2)
    return {"slept": 0.2, "pid": os.getpid()}


if __name__ == "__main__":
    app.run(host="127.0.0.1", port=8000)
