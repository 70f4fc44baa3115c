"""FastAPI (or any Starlette app) with the autoscaler's request-queue-time middleware: one line.

Try it (the app writes request counts to Redis; the autoscaler's ``web`` source reads them)::

    REDIS_URL=redis://127.0.0.1:6379/0 uvicorn examples.fastapi_app:app
    curl -H "X-Request-Start: $(date +%s%3N)" http://127.0.0.1:8000/

On Heroku the router sets ``X-Request-Start`` and ``REDIS_URL``/``REDIS_TLS_URL``.
"""

from __future__ import annotations

import asyncio
import os

from fastapi import FastAPI

from autoscaler.middleware import AutoscalerASGIMiddleware

app = FastAPI()
app.add_middleware(AutoscalerASGIMiddleware)


@app.get("/")
async def index() -> dict[str, object]:
    return {"hello": "world", "pid": os.getpid()}


@app.get("/slow")
async def slow() -> dict[str, object]:
    """A request that takes 200 ms: its app time (the event loop serves others meanwhile)."""
    await asyncio.sleep(0.2)
    return {"slept": 0.2, "pid": os.getpid()}


if __name__ == "__main__":
    import uvicorn

    uvicorn.run(app, host="127.0.0.1", port=8000)
