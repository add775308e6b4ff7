"""The one exception type for bad input, so every caller can catch it and every message reads the same."""

from __future__ import annotations

from os import PathLike


class SpotInputError(ValueError):
    """Input that does not meet a contract: says where (file / field), what was found, and what was expected.

    A `ValueError`, so code that already guards against bad values catches it; long-running processes (the
    training loop, the ROS node) catch it, log it and go on.
    """

    def __init__(self, message: str, *, source: str | PathLike | None = None):
        self.source = None if source is None else str(source)
        super().__init__(f"{self.source}: {message}" if self.source else message)
