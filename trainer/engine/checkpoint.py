"""Checkpoints: a folder written atomically and verified before anything in it is trusted.

    step_0000500/
        model.safetensors   the task's state dict (weights and buffers; the backbone under "backbone.")
        train_state.pt      optimizer, scheduler, scaler, step, epoch, batch within the epoch, RNG of every rank
                            (plain tensors and numbers: loaded with torch.load(weights_only=True))
        config.yaml         the resolved experiment config
        meta.json           schema version, step, stage, task class, class names and voxelization
        manifest.json       written last: size and sha256 of each file above

The folder is filled under a hidden temporary name, every file fsync'ed, and renamed into place in one
`os.replace`, so a run killed at any moment leaves either the whole checkpoint or none. Reading checks the
manifest first: a missing manifest, a missing file, a wrong size or a wrong hash is a `CheckpointError` naming
the file. `last` is a symlink, swapped atomically, to the newest checkpoint of a run.
"""

from __future__ import annotations

import hashlib
import json
import os
import shutil
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import torch
from safetensors import SafetensorError
from safetensors.torch import load_file, save_file
from torch import nn

from spot.runtime.errors import SpotInputError

SCHEMA_VERSION = 1
WEIGHTS, TRAIN_STATE, CONFIG, META, MANIFEST = (
    "model.safetensors",
    "train_state.pt",
    "config.yaml",
    "meta.json",
    "manifest.json",
)
LAST = "last"
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
    tmp.mkdir()
    save_file({key: value.detach().cpu().contiguous().clone() for key, value in weights.items()}, tmp / WEIGHTS)
    torch.save(train_state, tmp / TRAIN_STATE)
    (tmp / CONFIG).write_text(config_yaml)
    (tmp / META).write_text(json.dumps({"schema_version": SCHEMA_VERSION, **meta}, indent=2))
    files = {file: {"bytes": (tmp / file).stat().st_size, "sha256": _sha256(tmp / file)} for file in _PAYLOAD}
    (tmp / MANIFEST).write_text(json.dumps({"schema_version": SCHEMA_VERSION, "files": files}, indent=2))
    for file in (*_PAYLOAD, MANIFEST):
        _fsync(tmp / file)
    _fsync(tmp)
    final = folder / name
    _replace_folder(tmp, final)
    _point_last(folder, name)
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
        files = manifest["files"]
    except (json.JSONDecodeError, KeyError, TypeError) as error:
        raise CheckpointError(f"unreadable manifest ({error})", source=manifest_path) from error
    if manifest.get("schema_version", 0) > SCHEMA_VERSION:
        raise CheckpointError(
            f"schema version {manifest['schema_version']} is newer than this spot reads ({SCHEMA_VERSION}): "
            "upgrade spot",
            source=path,
        )
    for file in _PAYLOAD:
        _verify_file(path / file, files.get(file))
    return manifest


def read_checkpoint(path: Path, with_train_state: bool = True) -> Checkpoint:
    """Verify and load a checkpoint (to CPU); the training state only when `with_train_state`."""
    path = resolve_checkpoint(path)
    verify_checkpoint(path)
    try:
        weights = load_file(path / WEIGHTS)
        train_state = torch.load(path / TRAIN_STATE, weights_only=True) if with_train_state else None
        meta = json.loads((path / META).read_text())
    except (SafetensorError, RuntimeError, OSError, ValueError) as error:
        raise CheckpointError(f"cannot be read ({error})", source=path) from error
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
    """Delete all but the newest `keep` checkpoints (never those in `protect`), and stale temporary folders."""
    for stale in folder.glob(f".{PREFIX}*.tmp-*"):
        shutil.rmtree(stale, ignore_errors=True)
    protected = {p.resolve() for p in protect}
    for old in list_checkpoints(folder)[:-keep]:
        if old.resolve() not in protected:
            shutil.rmtree(old)


@dataclass
class LoadReport:
    """What `load_pretrained` did, by parameter name."""

    loaded: list[str] = field(default_factory=list)
    missing: list[str] = field(default_factory=list)  # in the model under the prefix, not in the checkpoint: new
    unused: list[str] = field(default_factory=list)  # in the checkpoint, not loaded (other prefix, or no such key)

    def summary(self) -> str:
        return f"loaded {len(self.loaded)} tensors, {len(self.missing)} new, {len(self.unused)} unused"


def load_pretrained(model: nn.Module, path: Path, prefix: str = "backbone.") -> LoadReport:
    """Load the checkpoint's tensors named `prefix...` into the model's tensors of the same names.

    Shapes must agree; a checkpoint with nothing under `prefix` for this model is an error (a wrong prefix or
    the wrong checkpoint), never a silent no-op.
    """
    checkpoint = read_checkpoint(path, with_train_state=False)
    own = model.state_dict()
    report = LoadReport()
    selected = {}
    for key, value in checkpoint.weights.items():
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


def _verify_file(path: Path, expected: dict | None) -> None:
    if expected is None:
        raise CheckpointError("not listed in the manifest: the checkpoint is incomplete", source=path)
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


def _point_last(folder: Path, name: str) -> None:
    link = folder / f".{LAST}.tmp-{os.getpid()}"
    link.unlink(missing_ok=True)
    link.symlink_to(name, target_is_directory=True)
    os.replace(link, folder / LAST)
    _fsync(folder)
