"""The one exception type for bad input, so every caller can catch it and every message reads the same."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from os import PathLike


class SpotInputError(ValueError):
    """Input that does not meet a contract: says where (file / field), what was found, and what was expected.

    A `ValueError`, so code that already guards against bad values catches it; long-running processes (the
    training loop, the ROS node) catch it, log it and go on.
    """

    def __init__(self, message: str, *, source: str | PathLike | None = None):
        self.message = message
        self.source = None if source is None else str(source)
        super().__init__(f"{self.source}: {message}" if self.source else message)


class ArtifactError(SpotInputError):
    """The artifact (`spot.json` / `model.onnx`), not the scan, is at fault: every later scan would fail the
    same way, so a caller working through many scans stops instead of skipping this one."""


@contextmanager
def errors_from(source: str | PathLike, kind: type[SpotInputError] = SpotInputError) -> Iterator[None]:
    """Inside, a `SpotInputError` that names no file is re-raised naming `source`, as a `kind`.

    Contracts are checked where they are defined (a `Scan`, a `VoxelGrid`), below the code that knows which
    file the values came from; that code wraps its work in this, so every message names its file.
    """
    try:
        yield
    except SpotInputError as error:
        if error.source is not None and isinstance(error, kind):
            raise
        raise kind(error.message, source=error.source or source) from error
