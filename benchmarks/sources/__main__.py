"""``python -m benchmarks.sources``: see :mod:`benchmarks.sources`."""

from benchmarks.sources.cli import main

raise SystemExit(main())
