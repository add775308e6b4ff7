"""`compiled`: numba's `njit` with its on-disk cache, and without it where no cache folder is writable.

numba caches compiled code in `NUMBA_CACHE_DIR` when set, else next to the source (`__pycache__`), else in
the user's cache folder; where none is writable (a read-only install and home) `cache=True` fails when the
module is imported. Then the kernels are compiled in memory, once per process, and a warning says so and how
to give them a cache.
"""

from __future__ import annotations

import logging

import numba

log = logging.getLogger(__name__)


def compiled(**options):
    """`numba.njit(cache=True, nogil=True, **options)`, falling back to `cache=False` (see the module doc)."""

    def decorate(function):
        try:
            return numba.njit(cache=True, nogil=True, **options)(function)
        except RuntimeError as error:  # numba: "cannot cache function ...: no locator available"
            log.warning("%s; compiling it in memory for this process (set NUMBA_CACHE_DIR to a writable folder to "
                        "keep compiled code between processes)", error)  # fmt: skip
            return numba.njit(cache=False, nogil=True, **options)(function)

    return decorate
