"""Fixtures of the model tests: the sparse tests' single-thread fixture applies here too."""

from ..sparse.conftest import single_thread

__all__ = ["single_thread"]
