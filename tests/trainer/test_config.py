"""Config composition, overrides and the one-line errors for every kind of mistake (toy components; the rules of
the shipped components are in test_config_rules.py)."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import pytest
import yaml
from omegaconf import MISSING

from spot.trainer.config import ScheduleName, SpotConfigError, load_config, to_yaml

TOY_DIR = Path(__file__).parent / "engine"


@pytest.fixture
def toy(monkeypatch):
    monkeypatch.syspath_prepend(str(TOY_DIR))
    import toy_task

    return toy_task


def write(path: Path, values: dict) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(yaml.safe_dump(values))
    return path


def test_bases_compose_in_order_and_overrides_come_last(tmp_path, toy):
    write(tmp_path / "schedule" / "fast.yaml", {"schedule": {"name": "onecycle", "pct_start": 0.2}})
    write(tmp_path / "data" / "toy.yaml", {"data": {"train": {"name": "toy_points", "num_samples": 40}}})
    experiment = write(
        tmp_path / "experiments" / "exp.yaml",
        {
            "_base_": ["../data/toy.yaml", "../schedule/fast.yaml"],
            "name": "exp",
            **toy.SPEC,
            "model": {"name": "point_mlp", "hidden": 8},
            "objective": {"name": "point_classifier"},
            "schedule": {"pct_start": 0.25},
        },
    )
    config = load_config(experiment, ["optim.betas=[0.8,0.9]", "data.train.num_points=5"], toy.REGISTRIES)
    assert config.schedule.name == ScheduleName.onecycle and config.schedule.pct_start == 0.25
    assert config.data.train.name == "toy_points"
    assert (config.data.train.config.num_samples, config.data.train.config.num_points) == (40, 5)
    assert config.model.config.hidden == 8 and config.optim.betas == [0.8, 0.9]
    assert config.output_dir == Path("runs/exp")
    resolved = write(tmp_path / "resolved.yaml", yaml.safe_load(to_yaml(config)))
    assert load_config(resolved, registries=toy.REGISTRIES) == config


@pytest.mark.parametrize(
    ("overrides", "message"),
    [
        (["optim.lrr=0.1"], r"unknown key `optim.lrr` \(valid keys: lr, weight_decay"),
        (["model.width=3"], r"unknown key `model.width` \(valid keys: hidden, dropout\)"),
        (["extra=1"], r"unknown key `extra`"),
        (["train.epochs=many"], r"`train.epochs`: Value 'many' of type 'str' could not be converted to Integer"),
        (["schedule.name=linear"], r"`schedule.name`: Invalid value 'linear', expected one of \[cosine, onecycle\]"),
        (["optim.betas=[0.9,x]"], r"`optim.betas\[1\]`"),
        (["model.name=resnet"], r"`model.name` = 'resnet' is not a known model \(choose from: point_mlp\)"),
        (["data.train.root=/no/such/dataset"], r"`data.train.root` = '/no/such/dataset' does not exist"),
        (["train.batch_size=0"], r"`train.batch_size` = 0: expected an integer >= 1"),
        # Issue 14 item 6: nonsense numbers, each refused by the bound its field declares.
        (["train.grad_clip=-1"], r"`train.grad_clip` = -1.0: expected a number > 0"),
        (["train.ckpt_every=-1"], r"`train.ckpt_every` = -1: expected an integer >= 0"),
        (["train.eval_every=-5"], r"`train.eval_every` = -5: expected an integer >= 0"),
        (["optim.weight_decay=-1"], r"`optim.weight_decay` = -1.0: expected a number >= 0"),
        (["train.eval_batch_size=0"], r"`train.eval_batch_size` = 0: expected an integer >= 1"),
        (["train.num_workers=-1"], r"`train.num_workers` = -1: expected an integer >= 0"),
        (["optim.lr=-1"], r"`optim.lr` = -1.0: expected a number > 0"),
        (["optim.betas=[0.9,1.5]"], r"`optim.betas\[1\]` = 1.5: expected a number >= 0 and < 1"),
        (["optim.betas=[0.9]"], r"`optim.betas` = \[0.9\]: expected 2 values, found 1"),
        (["schedule.pct_start=0"], r"`schedule.pct_start` = 0.0: expected a number > 0 and < 1"),
        (["train.max_steps=0"], r"`train.max_steps` = 0: expected an integer >= 1"),
        (["data.train.num_samples=0"], r"`data.train.num_samples` = 0: expected an integer >= 1"),
        (["train.device=gpu"], r"`train.device`: Invalid value 'gpu', expected one of \[auto, cpu, cuda\]"),
        # The experiment-level sections.
        (["voxelization.voxel_size=[0.2,0,0.2]"], r"`voxelization.voxel_size\[1\]` = 0.0: expected a number > 0"),
        (["voxelization.voxel_size=[0.2,0.2]"], r"`voxelization.voxel_size` = \[0.2, 0.2\]: expected 3 values"),
        (["voxelization.point_cloud_range=[0,0,0,-1,1,1]"], r"`voxelization.point_cloud_range` = .*: x_max must be"),
        (["voxelization=null"], r"`voxelization` is missing: declare the voxel grid once per experiment"),
        (["classes.names=[near,near]"], r"`classes.names` = \['near', 'near'\]: expected distinct class names"),
        (["classes.label_map=semantickitti"], r"`classes`: give exactly one of label_map .* or names"),
        (["classes.label_map=nuscenes"], r"`classes.label_map`: Invalid value 'nuscenes', expected one of"),
        # A grid left under a dataset, where it lived before `voxelization`: one line saying where it went.
        (["data.val.voxel_size=[1,1,1]"], r"`data.val.voxel_size` moved to `voxelization.voxel_size`"),
        (["train"], r"override 'train' is not of the form section.key=value"),
        (["data=3"], r"`data` must be a mapping of keys"),
    ],
)
def test_every_mistake_is_one_line_naming_the_key(tmp_path, toy, overrides, message):
    with pytest.raises(SpotConfigError, match=message) as caught:
        load_config(toy.write_config(tmp_path), overrides, toy.REGISTRIES)
    assert "\n" not in str(caught.value)
    assert str(caught.value).startswith(str(tmp_path / "toy.yaml"))


def test_missing_values_and_files_are_named(tmp_path, toy):
    write(tmp_path / "a.yaml", {"_base_": "b.yaml", "name": "x"})
    with pytest.raises(SpotConfigError, match=r"b.yaml: config file not found \(listed in .*a.yaml\)"):
        load_config(tmp_path / "a.yaml", registries=toy.REGISTRIES)
    write(tmp_path / "b.yaml", {"_base_": ["a.yaml"]})
    with pytest.raises(SpotConfigError, match="`_base_` forms a cycle"):
        load_config(tmp_path / "a.yaml", registries=toy.REGISTRIES)
    write(tmp_path / "c.yaml", {"data": {"train": {"name": "toy_points"}}, "model": {"name": "point_mlp"}, **toy.SPEC})
    with pytest.raises(SpotConfigError, match="`name` is missing"):
        load_config(tmp_path / "c.yaml", registries=toy.REGISTRIES)
    with pytest.raises(SpotConfigError, match=r"`objective` must be a mapping of keys, found nothing"):
        load_config(tmp_path / "c.yaml", ["name=c"], toy.REGISTRIES)
    write(tmp_path / "d.yaml", {"name": "d", "data": {"train": {}}, **toy.SPEC})
    with pytest.raises(SpotConfigError, match=r"`data.train.name` is missing: choose a dataset \(toy_points\)"):
        load_config(tmp_path / "d.yaml", registries=toy.REGISTRIES)


@dataclass
class NeedsRoot:
    root: str = MISSING


def test_a_required_component_field_without_value_is_an_error(tmp_path, toy):
    datasets = {"toy_points": toy.Entry(toy.ToyPoints, NeedsRoot)}
    registries = toy.Registries(datasets, toy.REGISTRIES.models, toy.REGISTRIES.objectives)
    with pytest.raises(SpotConfigError, match=r"`data.train.root` is required but has no value"):
        load_config(toy.write_config(tmp_path), ["data.val=null"], registries)


def test_val_data_replaces_the_whole_validation_section(tmp_path, toy):
    data = {"train": {"name": "toy_points"}, "val": {"name": "toy_points", "num_samples": 4, "root": str(tmp_path)}}
    experiment = write(
        tmp_path / "exp.yaml",
        {"name": "exp", "data": data, "model": {"name": "point_mlp"}, "objective": {"name": "point_classifier"}}
        | toy.SPEC,
    )
    other = write(tmp_path / "other.yaml", {"data": {"val": {"name": "toy_points", "num_points": 7}}})
    config = load_config(experiment, registries=toy.REGISTRIES, val_data=other)
    val = config.data.val.config
    assert (val.num_samples, val.num_points, val.root) == (24, 7, None)  # nothing left over from the old section
    assert config.data.train.config.num_samples == 24
    with pytest.raises(SpotConfigError, match=r"expected a `data.val` section") as error:
        load_config(experiment, registries=toy.REGISTRIES, val_data=write(tmp_path / "bad.yaml", {"data": {}}))
    assert "bad.yaml" in str(error.value)


def test_base_must_name_files(tmp_path, toy):
    """Issue 14 item 13: `_base_: 5` was a TypeError traceback."""
    config = toy.write_config(tmp_path)
    values = yaml.safe_load(config.read_text())
    for bases in (5, [1, "x.yaml"], {"a": 1}):
        write(config, {"_base_": bases, **values})
        with pytest.raises(SpotConfigError, match=r"`_base_` = .*: expected a file path or a list of file paths"):
            load_config(config, registries=toy.REGISTRIES)


def test_missing_marker_unsets_what_a_base_gave(tmp_path, toy):
    """Issue 14 item 18: `???` in a derived config (or an override) must unset the base's value, so the run
    refuses to start instead of running with the value the derived config meant to demand."""
    base = toy.write_config(tmp_path, max_steps=4)
    derived = write(tmp_path / "derived.yaml", {"_base_": "toy.yaml", "train": {"max_steps": "???"}})
    with pytest.raises(SpotConfigError, match=r"`train.max_steps` is required but has no value") as caught:
        load_config(derived, registries=toy.REGISTRIES)
    assert str(caught.value).startswith(str(derived))
    with pytest.raises(SpotConfigError, match=r"`data.val.num_samples` is required but has no value"):
        load_config(base, ["data.val.num_samples=???"], toy.REGISTRIES)
    assert load_config(derived, ["train.max_steps=2"], toy.REGISTRIES).train.max_steps == 2
