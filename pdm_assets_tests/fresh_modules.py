"""Re-importing the asset modules under other settings, inside the test session.

Asset partitions are fixed when their modules are imported, so settings must be in the
environment before that, as they are for the CLI, the webserver and the daemon (each a new
process). A scenario that needs other partitions could start a process of its own, but that
process pays a cold Spark JVM (about half of a short scenario's time); inside the session it
reuses the session's warm one. Earlier tests imported the modules with other settings: they are
dropped for the block so the scenario imports them after its settings, then restored.
"""

from __future__ import annotations

import sys
from collections.abc import Iterator
from contextlib import contextmanager

PREFIXES = ("pdm_assets.assets", "pdm_assets.definitions", "pdm_assets.automation")


@contextmanager
def fresh_asset_modules(*extra: str) -> Iterator[None]:
    """Inside the block, the asset, definition and automation modules (and ``extra`` module
    prefixes) import anew; after it, the session's own come back."""
    prefixes = (*PREFIXES, *extra)
    saved = {k: m for k, m in sys.modules.items() if k.startswith(prefixes)}
    for key in saved:
        del sys.modules[key]
    try:
        yield
    finally:
        for key in [k for k in sys.modules if k.startswith(prefixes)]:
            del sys.modules[key]
        sys.modules.update(saved)
