"""What every spot command line shares: how bad input and unbuilt features are reported."""

from __future__ import annotations

import functools
import logging
import sys
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from pathlib import Path

import click
from tqdm import tqdm

from ..errors import ArtifactError, SpotInputError, errors_from
from ..io import iter_samples
from ..sample import Sample

EXIT_USAGE = 2


class UsageFailure(click.ClickException):
    """One 'Error: …' line and exit code 2: the input or the request was wrong, not the program."""

    exit_code = EXIT_USAGE


class NotAvailableYet(UsageFailure):
    """A sub-command the design names but this version does not provide yet; it never pretends to work."""

    def __init__(self, what: str):
        super().__init__(f"{what} is not available yet in this version of spot.")


def reports_input_errors(command: Callable) -> Callable:
    """Turn a `SpotInputError` raised by a command into a `UsageFailure` instead of a traceback."""

    @functools.wraps(command)
    def wrapper(*args, **kwargs):
        try:
            return command(*args, **kwargs)
        except SpotInputError as error:
            raise UsageFailure(str(error)) from error

    return wrapper


def setup_logging(verbose: bool) -> None:
    level = logging.DEBUG if verbose else logging.INFO
    logging.basicConfig(level=level, format="%(levelname)s %(name)s: %(message)s")


class InputFiles:
    """The scan files and folders a command works through: every file is processed, every failure reported.

    A folder is a batch: one unreadable file, or one scan the model refuses, must neither stop the files after
    it nor hide their failures. Each failure is one `Error: <file>: ...` line on stderr when it happens, and
    the work goes on; `finish()` then exits with code 2 if any failed (after a count line when there were
    several scans). An `ArtifactError` is no scan's fault: it stops the command at once.

        files = InputFiles(paths)
        for sample in files.samples():
            with files.processing(sample):
                ...
        files.finish()
    """

    def __init__(self, paths: Sequence[str | Path], label_map: str | Path | None = None):
        self.paths, self.label_map = tuple(paths), label_map
        self.scans = self.failed = 0  # scans read or tried, and failures among them

    def samples(self) -> Iterator[Sample]:
        """Every readable sample of every path, in order; unreadable files are reported and skipped."""
        for path in self.paths:
            for sample in iter_samples(path, self.label_map, on_error=self._unreadable):
                self.scans += 1
                yield sample

    @contextmanager
    def processing(self, sample: Sample) -> Iterator[None]:
        """Around one sample's work: its `SpotInputError` is reported naming the sample's file, then skipped."""
        try:
            with errors_from(sample.source or "scan"):
                yield
        except ArtifactError:
            raise
        except SpotInputError as error:
            self.report(error)

    def report(self, error: SpotInputError) -> None:
        self.failed += 1
        tqdm.write(f"Error: {error}", file=sys.stderr)

    def _unreadable(self, error: SpotInputError) -> None:
        self.scans += 1
        self.report(error)

    def finish(self) -> None:
        """Exit with code 2 if anything failed."""
        if not self.failed:
            return
        if self.scans > 1:
            click.echo(f"{self.failed} of {self.scans} scans failed (errors above)", err=True)
        raise click.exceptions.Exit(EXIT_USAGE)
