"""The autoscaler app's optional ``web`` process: ``python -m autoscaler web``.

It receives the scaled app's Logplex drain (``POST /drain``) and stores per-slot router
figures in the state store for the daemon's ``router`` source; ``GET /health`` says it is up.
The daemon needs nothing from it. :mod:`~autoscaler.web.app` is the Starlette app,
:mod:`~autoscaler.web.server` runs it under uvicorn. See docs/drain.md.
"""
