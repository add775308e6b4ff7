"""The run folder: one training at a time, and one clear line when it cannot be written.

`claim_run_folder` holds an exclusive `fcntl.flock` on `<run>/.lock` (the holder's PID written inside) for the
whole run. The OS drops the lock when the holder's process ends, however it ends (SIGKILL included), so a
crashed run never leaves a stale lock behind; a second training into the same folder is refused, naming the
folder and the holder's PID, before it reads or writes anything there.

`writes_into(folder)` turns the ways writing can fail (a full disk or quota, a read-only or forbidden folder, a
path through a file) into one `RunFolderError` line naming the folder instead of a traceback.
"""

from __future__ import annotations

import contextlib
import errno
import fcntl
import os
from collections.abc import Iterator
from pathlib import Path

from spot.runtime.errors import SpotInputError

LOCK_FILE = ".lock"
_NO_SPACE = (errno.ENOSPC, errno.EDQUOT)


class RunFolderError(SpotInputError):
    """A run folder that another training holds, or that cannot be written."""


@contextlib.contextmanager
def writes_into(folder: Path) -> Iterator[None]:
    """Report an `OSError` raised inside the block as a `RunFolderError` naming `folder`."""
    try:
        yield
    except OSError as error:
        raise write_error(folder, error) from error


def write_error(folder: Path, error: OSError) -> RunFolderError:
    """'no space left on <folder>' for a full disk or quota, else 'cannot write <folder>: <reason>'."""
    what = f" (writing {error.filename})" if error.filename and Path(error.filename) != Path(folder) else ""
    if error.errno in _NO_SPACE:
        return RunFolderError(f"no space left on {folder}{what}: free some space, then --resume continues the run")
    return RunFolderError(f"cannot write {folder}{what}: {error.strerror or error}")


@contextlib.contextmanager
def claim_run_folder(run_dir: Path) -> Iterator[None]:
    """Create `run_dir` if needed and hold it exclusively for the block; refuses one another process holds."""
    with writes_into(run_dir):
        run_dir.mkdir(parents=True, exist_ok=True)
        fd = os.open(run_dir / LOCK_FILE, os.O_RDWR | os.O_CREAT, 0o644)
    try:
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            raise RunFolderError(
                f"another training (PID {_holder(fd)}) is running in {run_dir}: wait for it to end, "
                "or set train.output_dir to another folder"
            ) from None
        with writes_into(run_dir):
            os.ftruncate(fd, 0)
            os.pwrite(fd, f"{os.getpid()}\n".encode(), 0)
        yield
    finally:
        os.close(fd)  # releases the lock


def _holder(fd: int) -> str:
    """The PID the holder wrote ('unknown' in the instant between its lock and its write)."""
    text = os.pread(fd, 32, 0).decode(errors="replace").strip()
    return text if text.isdigit() else "unknown"
