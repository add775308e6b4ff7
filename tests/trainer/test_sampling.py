import numpy as np
import pytest

from spot.trainer.sampling import balanced_sampling_weights, weighted_epoch_indices


def test_hand_computed_weights():
    # 4 frames: class 0 in all, class 1 only in frame 3; frame 2 has no listed class.
    frames = [np.array([0]), np.array([0, 0]), np.array([], np.int64), np.array([0, 1])]
    # Class 0 is in 3 of 4 frames -> sqrt(4/3); class 1 in 1 -> 2. Weights before normalising:
    raw = np.array([np.sqrt(4 / 3), np.sqrt(4 / 3), 1.0, 2.0])
    np.testing.assert_allclose(balanced_sampling_weights(frames, 2), raw * 4 / raw.sum())


def test_rare_class_frames_are_drawn_more_often():
    frames = [np.array([0])] * 90 + [np.array([0, 1])] * 10
    weights = balanced_sampling_weights(frames, 2)
    draws = np.concatenate([weighted_epoch_indices(weights, seed=0, epoch=e) for e in range(20)])
    rare_share = (draws >= 90).mean()
    # sqrt(100/10) = 3.16 vs sqrt(100/100) = 1: expected share 31.6 / (90 + 31.6) = 0.26.
    assert 0.22 < rare_share < 0.30
    np.testing.assert_array_equal(weighted_epoch_indices(weights, 0, 3), weighted_epoch_indices(weights, 0, 3))


def test_empty_input_is_refused():
    with pytest.raises(ValueError, match="at least one frame"):
        balanced_sampling_weights([], 3)
