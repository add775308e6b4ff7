"""Checkpoints: a folder written atomically and verified before anything in it is trusted.

    step_0000500/
        model.safetensors   the task's state dict (weights and buffers; the backbone under "backbone.")
        train_state.pt      optimizer, scheduler, scaler, step, epoch, batch within the epoch, RNG of every rank
                            (plain tensors and numbers: loaded with torch.load(weights_only=True))
        config.yaml         the resolved experiment config
        meta.json           schema version, step, stage, task class, class names and voxelization
        manifest.json       written last: size and sha256 of each file above

The files are serialized in memory, written under a hidden temporary folder name (`.step_N.tmp-PID`), every
file fsync'ed, and the folder renamed into place in one `os.replace`, so a run killed at any moment leaves either
the whole checkpoint or none. A write that fails (a full disk) removes its temporary folder before the error goes
on, so it cannot keep the disk full for the next `--resume`. Reading checks the manifest first: a missing or
malformed manifest, a missing file, a wrong size or a wrong hash is a `CheckpointError` naming the file; so is a
train_state.pt holding anything but tensors and plain values. `last` is a symlink, swapped atomically, to the
newest checkpoint of a run. `write_atomically` does the same for one small file (a study's
cached `result.json`): a process killed while writing leaves the old file or the new one, never half of one.
"""

from __future__ import annotations

import hashlib
import io
import json
import os
import pickle
import shutil
import warnings
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import torch
from safetensors import SafetensorError
from safetensors.torch import load_file
from safetensors.torch import save as safetensors_bytes
from torch import nn

from spot.runtime.errors import SpotInputError

from ..models.norms import fold_domain_state, has_domain_norms
from .task import DatasetInfo

SCHEMA_VERSION = 1
WEIGHTS, TRAIN_STATE, CONFIG, META, MANIFEST = (
    "model.safetensors",
    "train_state.pt",
    "config.yaml",
    "meta.json",
    "manifest.json",
)
LAST = "last"
BEST = "best"  # the checkpoint with the best validation metric (`train.best_metric`)
PREFIX = "step_"


class CheckpointError(SpotInputError):
    """A checkpoint that is incomplete, corrupt or not a spot checkpoint."""


@dataclass
class Checkpoint:
    path: Path
    weights: dict[str, torch.Tensor]
    config_yaml: str
    meta: dict[str, Any]
    train_state: dict[str, Any] | None = None


def checkpoint_name(step: int) -> str:
    return f"{PREFIX}{step:07d}"


def save_checkpoint(
    folder: Path, name: str, weights: dict[str, torch.Tensor], train_state: dict, config_yaml: str, meta: dict
) -> Path:
    """Write checkpoint `folder/name` atomically (replacing one of that name) and point `last` at it."""
    folder.mkdir(parents=True, exist_ok=True)
    tmp = folder / f".{name}.tmp-{os.getpid()}"
    shutil.rmtree(tmp, ignore_errors=True)
    payload = {
        WEIGHTS: safetensors_bytes({key: value.detach().cpu().contiguous().clone() for key, value in weights.items()}),
        TRAIN_STATE: _torch_bytes(train_state),
        CONFIG: config_yaml.encode(),
        META: json.dumps({"schema_version": SCHEMA_VERSION, **meta}, indent=2).encode(),
    }
    files = {file: {"bytes": len(data), "sha256": hashlib.sha256(data).hexdigest()} for file, data in payload.items()}
    payload[MANIFEST] = json.dumps({"schema_version": SCHEMA_VERSION, "files": files}, indent=2).encode()
    final = folder / name
    try:
        tmp.mkdir()
        for file, data in payload.items():  # the manifest last
            _write_synced(tmp / file, data)
        _fsync(tmp)
        _replace_folder(tmp, final)
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise
    point_link(folder, LAST, name)
    return final


_PAYLOAD = (WEIGHTS, TRAIN_STATE, CONFIG, META)


def verify_checkpoint(path: Path) -> dict:
    """Check every file of checkpoint `path` against its manifest; return the manifest."""
    path = Path(path)
    if not path.is_dir():
        raise CheckpointError("no checkpoint folder here", source=path)
    manifest_path = path / MANIFEST
    if not manifest_path.is_file():
        raise CheckpointError(
            f"no {MANIFEST}: the checkpoint is incomplete (its writer stopped) or not a spot checkpoint", source=path
        )
    try:
        manifest = json.loads(manifest_path.read_text())
    except (json.JSONDecodeError, UnicodeDecodeError) as error:
        raise CheckpointError(f"unreadable manifest ({error})", source=manifest_path) from error
    problem = _manifest_problem(manifest)
    if problem:
        raise CheckpointError(
            f"malformed manifest: {problem}, expected {{schema_version: int, files: {{name: {{bytes, sha256}}}}}}",
            source=manifest_path,
        )
    if manifest.get("schema_version", 0) > SCHEMA_VERSION:
        raise CheckpointError(
            f"schema version {manifest['schema_version']} is newer than this spot reads ({SCHEMA_VERSION}): "
            "upgrade spot",
            source=path,
        )
    files = manifest["files"]
    for file in _PAYLOAD:
        _verify_file(path / file, files.get(file))
    return manifest


def read_checkpoint(path: Path, with_train_state: bool = True) -> Checkpoint:
    """Verify and load a checkpoint (to CPU); the training state only when `with_train_state`."""
    path = resolve_checkpoint(path)
    verify_checkpoint(path)
    try:
        weights = load_file(path / WEIGHTS)
        train_state = _load_plain(path / TRAIN_STATE) if with_train_state else None
        meta = json.loads((path / META).read_text())
    except pickle.UnpicklingError as error:
        # torch's own text advises weights_only=False, i.e. running whatever the file holds: never.
        raise CheckpointError(
            "holds Python objects besides tensors and plain values, which a spot checkpoint never needs: refused",
            source=path / TRAIN_STATE,
        ) from error
    except (SafetensorError, RuntimeError, OSError, ValueError) as error:
        raise CheckpointError(f"cannot be read ({error})", source=path) from error
    if with_train_state and not isinstance(train_state, dict):
        raise CheckpointError("does not hold a training state (a dict)", source=path / TRAIN_STATE)
    return Checkpoint(path, weights, (path / CONFIG).read_text(), meta, train_state)


def resolve_checkpoint(path: Path) -> Path:
    """A checkpoint folder as given, or the newest checkpoint (`last`) of a run folder or checkpoints folder."""
    path = Path(path)
    for candidate in (path, path / LAST, path / "checkpoints" / LAST):
        if (candidate / MANIFEST).exists() or (candidate / WEIGHTS).exists():
            return candidate.resolve()
    if not path.exists():
        raise CheckpointError("no such checkpoint", source=path)
    raise CheckpointError(f"not a checkpoint folder, and it holds no checkpoints/{LAST}", source=path)


def list_checkpoints(folder: Path) -> list[Path]:
    """The finished checkpoints of a checkpoints folder, oldest first."""
    if not folder.is_dir():
        return []
    return sorted(p for p in folder.iterdir() if p.is_dir() and not p.is_symlink() and p.name.startswith(PREFIX))


def prune_checkpoints(folder: Path, keep: int, protect: tuple[Path, ...] = ()) -> None:
    """Delete all but the newest `keep` checkpoints (never those in `protect`), and this process's temporaries."""
    remove_temporaries(folder, os.getpid())
    protected = {p.resolve() for p in protect}
    for old in list_checkpoints(folder)[:-keep]:
        if old.resolve() not in protected:
            shutil.rmtree(old)


def remove_temporaries(folder: Path, pid: int | None = None) -> None:
    """Delete the temporary folders of unfinished checkpoint writes: those of process `pid`, or all of them
    (only for the holder of the run folder's lock, when any other writer must be dead)."""
    for stale in folder.glob(f".{PREFIX}*.tmp-{'*' if pid is None else pid}"):
        shutil.rmtree(stale, ignore_errors=True)


def load_weights(model: nn.Module, weights: dict[str, torch.Tensor], source: str | Path) -> None:
    """`model.load_state_dict(weights)`, refusing with one line (counts and the first names) when the model
    built from `source` (a config) has other tensors than the checkpoint holds."""
    own = model.state_dict()
    mismatches = {
        "missing from the checkpoint": [key for key in own if key not in weights],
        "not in the model": [key for key in weights if key not in own],
        "of another shape": [key for key in own if key in weights and weights[key].shape != own[key].shape],
    }
    found = [f"{len(keys)} {what} ({_first_names(keys)})" for what, keys in mismatches.items() if keys]
    if found:
        raise CheckpointError(
            f"builds a model whose tensors do not fit the checkpoint's ({len(own)} in the model, {len(weights)} in "
            f"the checkpoint): {'; '.join(found)}",
            source=source,
        )
    model.load_state_dict(weights)


def _first_names(keys: list[str], shown: int = 3) -> str:
    more = f", ... {len(keys) - shown} more" if len(keys) > shown else ""
    return ", ".join(keys[:shown]) + more


@dataclass
class LoadReport:
    """What `load_pretrained` did, by parameter name."""

    loaded: list[str] = field(default_factory=list)
    missing: list[str] = field(default_factory=list)  # in the model under the prefix, not in the checkpoint: new
    unused: list[str] = field(default_factory=list)  # in the checkpoint, not loaded (other prefix, or no such key)

    def summary(self) -> str:
        return f"loaded {len(self.loaded)} tensors, {len(self.missing)} new, {len(self.unused)} unused"


def load_pretrained(model: nn.Module, path: Path, prefix: str = "backbone.", domain: str | None = None) -> LoadReport:
    """Load the checkpoint's tensors named `prefix...` into the model's tensors of the same names.

    Shapes must agree; a checkpoint with nothing under `prefix` for this model is an error (a wrong prefix or
    the wrong checkpoint), never a silent no-op. A multi-domain (PPT) checkpoint's per-domain norms are loaded as
    the plain BatchNorm of `domain` (`models.norms.fold_domain_state`), which it must then name.
    """
    checkpoint = read_checkpoint(path, with_train_state=False)
    weights = checkpoint.weights
    if domain is not None or has_domain_norms(weights):
        info = DatasetInfo.from_dict(checkpoint.meta.get("dataset_info", {}))
        names = ", ".join(d.name for d in info.domains) or "none"
        if domain is None:
            raise CheckpointError(f"has per-domain norms (PPT): set pretrained.domain to the domain whose norms to "
                                  f"load ({names})", source=checkpoint.path)  # fmt: skip
        try:
            weights = fold_domain_state(weights, info.domain_index(domain))
        except SpotInputError as error:
            raise CheckpointError(f"pretrained.domain: {error}", source=checkpoint.path) from error
    own = model.state_dict()
    report = LoadReport()
    selected = {}
    for key, value in weights.items():
        if not key.startswith(prefix) or key not in own:
            report.unused.append(key)
            continue
        if value.shape != own[key].shape:
            raise CheckpointError(
                f"{key} has shape {tuple(value.shape)} in the checkpoint but {tuple(own[key].shape)} in the model",
                source=checkpoint.path,
            )
        selected[key] = value
        report.loaded.append(key)
    report.missing = [key for key in own if key.startswith(prefix) and key not in selected]
    if not selected:
        raise CheckpointError(f"holds no tensor of this model under the prefix {prefix!r}", source=checkpoint.path)
    model.load_state_dict(selected, strict=False)
    return report


def _manifest_problem(manifest: Any) -> str | None:
    if not isinstance(manifest, dict):
        return f"a {type(manifest).__name__} at the top"
    if not isinstance(manifest.get("files"), dict):
        return f"`files` is a {type(manifest.get('files')).__name__}"
    if not isinstance(manifest.get("schema_version", 0), int):
        return f"`schema_version` is {manifest['schema_version']!r}"
    return None


def _verify_file(path: Path, expected: dict | None) -> None:
    if expected is None:
        raise CheckpointError("not listed in the manifest: the checkpoint is incomplete", source=path)
    if not isinstance(expected, dict):
        raise CheckpointError(f"the manifest's entry is {expected!r}, expected {{bytes, sha256}}", source=path)
    if not path.is_file():
        raise CheckpointError("missing: the checkpoint is incomplete", source=path)
    size = path.stat().st_size
    if size != expected.get("bytes"):
        raise CheckpointError(f"has {size} bytes, the manifest says {expected.get('bytes')}: truncated", source=path)
    if _sha256(path) != expected.get("sha256"):
        raise CheckpointError("sha256 differs from the manifest: the file is corrupt", source=path)


def _sha256(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as stream:
        for chunk in iter(lambda: stream.read(1 << 22), b""):
            digest.update(chunk)
    return digest.hexdigest()


def _load_plain(path: Path) -> Any:
    """torch.load of tensors and plain values only (an unpickler that refuses anything else)."""
    with warnings.catch_warnings():
        warnings.filterwarnings("ignore", message="Detected pickle protocol")  # a foreign file: the refusal says it
        return torch.load(path, weights_only=True)


def _torch_bytes(value: dict) -> bytes:
    buffer = io.BytesIO()
    torch.save(value, buffer)
    return buffer.getvalue()


def _write_synced(path: Path, data: bytes) -> None:
    """Write and fsync one file; a full disk raises the OSError (ENOSPC, naming the file) `run_folder` reports."""
    try:
        with path.open("wb") as stream:
            stream.write(data)
            stream.flush()
            os.fsync(stream.fileno())
    except OSError as error:
        error.filename = error.filename or str(path)
        raise


def write_atomically(path: Path, text: str) -> None:
    """Write `text` to `path` through a fsync'ed sibling renamed into place."""
    partial = path.with_name(f"{path.name}.partial")
    _write_synced(partial, text.encode())
    os.replace(partial, path)
    _fsync(path.parent)


def _fsync(path: Path) -> None:
    fd = os.open(path, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def _replace_folder(tmp: Path, final: Path) -> None:
    """Move `tmp` to `final`; an existing `final` (same step written again) is moved aside first."""
    if final.exists():
        aside = final.with_name(f".{final.name}.tmp-old-{os.getpid()}")
        os.replace(final, aside)
        os.replace(tmp, final)
        shutil.rmtree(aside)
    else:
        os.replace(tmp, final)
    _fsync(final.parent)


def point_link(folder: Path, link_name: str, name: str) -> None:
    """Point `folder/link_name` (`last`, `best`) at checkpoint `name`, atomically."""
    link = folder / f".{link_name}.tmp-{os.getpid()}"
    link.unlink(missing_ok=True)
    link.symlink_to(name, target_is_directory=True)
    os.replace(link, folder / link_name)
    _fsync(folder)
