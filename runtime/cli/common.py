"""What every spot command line shares: how bad input and unbuilt features are reported."""

from __future__ import annotations

import functools
import logging
from collections.abc import Callable

import click

from ..errors import SpotInputError

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
