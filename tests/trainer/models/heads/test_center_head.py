import math

import pytest
import torch

from spot.trainer.models.heads import CenterHead


def test_outputs_keep_the_map_and_start_at_the_prior():
    head = CenterHead(in_channels=12, num_classes=4, regression_channels=8, neck_channels=16, head_channels=8).eval()
    heatmap, regression = head(torch.zeros(2, 12, 10, 14))
    assert heatmap.shape == (2, 4, 10, 14) and regression.shape == (2, 8, 10, 14)
    assert torch.sigmoid(heatmap).mean().item() == pytest.approx(0.1, abs=1e-3)


def test_neck_depth_follows_the_config():
    head = CenterHead(8, 2, 8, neck_channels=16, neck_blocks=3)
    assert len(head.neck) == 3 and math.isclose(head.heatmap[-1].bias[0].item(), -math.log(9), rel_tol=1e-6)
