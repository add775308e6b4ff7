import math

import pytest
import torch

from spot.trainer.losses.center import gaussian_focal_loss, weighted_l1


def test_focal_loss_hand_computed():
    # p = 0.5 everywhere: a centre costs -log(0.5) (1 - 0.5)^2, a neighbour at target 0.5 costs
    # -log(0.5) 0.5^2 (1 - 0.5)^4, a far cell (target 0) -log(0.5) 0.5^2; one centre normalises.
    logits = torch.zeros(1, 1, 1, 3)
    target = torch.tensor([[[[1.0, 0.5, 0.0]]]])
    expected = math.log(2) * 0.25 * (1 + 0.0625 + 1)
    assert float(gaussian_focal_loss(logits, target)) == pytest.approx(expected, rel=1e-6)


def test_focal_loss_is_small_for_a_confident_right_answer():
    target = torch.tensor([[[[1.0, 0.0]]]])
    good = gaussian_focal_loss(torch.tensor([[[[6.0, -6.0]]]]), target)
    bad = gaussian_focal_loss(torch.tensor([[[[-6.0, 6.0]]]]), target)
    assert float(good) < 1e-4 < 1 < float(bad)


def test_weighted_l1_averages_over_objects_and_keeps_the_graph_when_empty():
    prediction = torch.tensor([[1.0, 2.0], [0.0, 0.0]], requires_grad=True)
    loss = weighted_l1(prediction, torch.zeros(2, 2), torch.tensor([1.0, 0.5]))
    assert loss.detach().item() == pytest.approx((1 + 1) / 2)
    empty = weighted_l1(prediction[:0], torch.zeros(0, 2), torch.tensor([1.0, 0.5]))
    empty.backward()
    assert empty.detach().item() == 0 and prediction.grad is not None
