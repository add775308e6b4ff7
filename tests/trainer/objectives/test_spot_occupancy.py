import torch

from spot.runtime import IGNORE_INDEX
from spot.trainer.losses import lovasz_softmax
from spot.trainer.models.heads import OccupancyDecoder
from spot.trainer.objectives.spot.loss import OccupancyLoss, OccupancyLossConfig, occupancy_class_weights


def test_class_weights_follow_spot():
    config = OccupancyLossConfig(foreground_classes=[0, 2])
    assert occupancy_class_weights(4, config) == [2.0, 1.0, 2.0, 1.0, 0.01]


def test_loss_matches_its_definition_and_ignores_unknown():
    torch.manual_seed(0)
    logits = torch.randn(1, 3, 2, 4, 4, dtype=torch.float64, requires_grad=True)
    target = torch.randint(0, 3, (1, 2, 4, 4))
    target[0, 0, 0, :] = IGNORE_INDEX
    loss_fn = OccupancyLoss([2.0, 1.0, 0.01], lovasz_weight=0.5, lovasz_max_voxels=10**6)
    parts = loss_fn(logits, target)
    flat_logits = logits.permute(0, 2, 3, 4, 1).reshape(-1, 3)
    flat_target = target.reshape(-1)
    keep = flat_target != IGNORE_INDEX
    ce = torch.nn.functional.cross_entropy(
        flat_logits[keep], flat_target[keep], weight=torch.tensor([2.0, 1.0, 0.01], dtype=torch.float64)
    )
    lovasz = lovasz_softmax(flat_logits[keep].softmax(1), flat_target[keep])
    assert torch.allclose(parts["loss"], ce + 0.5 * lovasz)
    parts["loss"].backward()
    assert logits.grad[0, :, 0, 0, :].abs().sum() == 0  # ignored voxels get no gradient


def test_decoder_learns_a_fixed_occupancy_pattern():
    torch.manual_seed(0)
    decoder = OccupancyDecoder(in_channels=4, num_outputs=3, z_bins=4, hidden=16)
    bev = torch.randn(1, 4, 8, 8)
    target = torch.randint(0, 3, (1, 4, 8, 8))
    loss_fn = OccupancyLoss([1.0, 1.0, 1.0], lovasz_weight=1.0, lovasz_max_voxels=1000)
    optimizer = torch.optim.Adam(decoder.parameters(), lr=0.02)
    first = None
    for _ in range(150):
        optimizer.zero_grad()
        loss = loss_fn(decoder(bev), target)["loss"]
        loss.backward()
        optimizer.step()
        first = first if first is not None else loss.item()
    decoder.eval()
    accuracy = (decoder(bev).argmax(1) == target).double().mean().item()
    assert loss.item() < 0.3 * first and accuracy > 0.95


def test_foreground_defaults_to_the_datasets_things_without_touching_the_config():
    config = OccupancyLossConfig()
    assert occupancy_class_weights(3, config, default_foreground=[1]) == [1.0, 2.0, 1.0, 0.01]
    assert config.foreground_classes == []
