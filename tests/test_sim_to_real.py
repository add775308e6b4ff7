"""benchmarks/sim_to_real.py on a tiny schedule: both arms train, score on the real scans and report."""

from __future__ import annotations

import json

import pytest
from conftest import assert_cached_and_version_checked, benchmark_script, run_script
from PIL import Image


@pytest.fixture
def benchmark(monkeypatch):
    tiny = ("data.train.seeds=[300]", "data.train.frames=2", "data.val.frames=2", "train.max_steps=4",
            "train.eval_every=2", "train.num_workers=0")  # fmt: skip
    return benchmark_script("sim_to_real", monkeypatch, tiny)


@pytest.mark.slow
@pytest.mark.realdata
def test_both_arms_are_scored_on_the_real_scans_and_reported(benchmark, monkeypatch, tmp_path, capsys):
    out, report = tmp_path / "runs", tmp_path / "report.md"
    run_script(benchmark, monkeypatch, "--seeds", "0", "--out", str(out), "--report", str(report))
    printed = json.loads(capsys.readouterr().out.strip().splitlines()[-1])
    assert printed["benchmark"] == "sim_to_real" and set(printed["arms"]) == {"augmented", "plain"}
    augmented, plain = (
        json.loads((out / f"{arm}-seed0" / "result.json").read_text()) for arm in ("augmented", "plain")
    )
    assert augmented["real"]["miou"] != plain["real"]["miou"]  # the arms trained differently
    assert [step for step, _ in augmented["curve"]] == [2, 4]
    assert printed["arms"]["augmented"]["real"] == [pytest.approx(100 * augmented["real"]["miou"])]
    assert {"road", "car", "building"} <= set(printed["classes"])  # the classes the real scans hold
    claims = {claim["name"]: claim for claim in printed["claims"]}
    assert claims["augmentation helps on the real scans (augmented - plain)"]["difference"]["low"] is None
    assert claims["augmented: real mIoU above 25"]["verdict"] in {"met", "not shown", "below target", "opposite"}
    text = report.read_text()
    assert "| augmented |" in text and "| road |" in text and "Simulator version" in text
    assert json.loads(report.with_suffix(".json").read_text())["arms"] == printed["arms"]
    with Image.open(report.with_suffix(".png")) as picture:
        assert picture.width > 400

    # cached: the second invocation trains nothing; a cache from another simulator version is refused
    assert_cached_and_version_checked(benchmark, monkeypatch, capsys, out / "plain-seed0" / "result.json",
                                      "--seeds", "0", "--out", str(out), "--arms", "plain")  # fmt: skip
