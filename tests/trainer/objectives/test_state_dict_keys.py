"""Old checkpoints keep loading: every objective's state-dict names and shapes are the recorded ones.

`state_dict_keys.json` was written from the tasks as they were before the heads moved into
`spot.trainer.models.heads`; `load_state_dict` (resume, export, eval) and `load_pretrained` match by these
names. Change the file only together with a checkpoint conversion.
"""

import json
from pathlib import Path

import pytest

from spot.trainer.config import load_config
from spot.trainer.engine.run import build_task, experiment_info

REPO = Path(__file__).resolve().parents[3]
RECORDED = json.loads(Path(__file__).with_name("state_dict_keys.json").read_text())


@pytest.mark.parametrize("config_file", sorted(RECORDED))
def test_state_dict_names_and_shapes_are_the_recorded_ones(config_file):
    config = load_config(REPO / config_file)
    task = build_task(config, experiment_info(config))
    assert {key: list(value.shape) for key, value in task.state_dict().items()} == RECORDED[config_file]
