import numpy as np
import pytest

from spot.runtime import SpotInputError
from spot.trainer.objectives.also.queries import (
    QUERY_BEHIND,
    QUERY_FAR,
    QUERY_FRONT,
    SurfaceQueryConfig,
    sample_surface_queries,
)


def test_queries_lie_on_rays_with_the_right_side_and_labels():
    rng = np.random.default_rng(0)
    direction = rng.normal(size=(500, 3))
    direction /= np.linalg.norm(direction, axis=1, keepdims=True)
    distance = rng.uniform(5, 30, size=500)
    xyz = direction * distance[:, None]
    intensity = rng.uniform(0, 1, size=500)
    config = SurfaceQueryConfig(queries_per_scan=3000)
    queries = sample_surface_queries(xyz, intensity, np.random.default_rng(1), config)
    q_distance = np.linalg.norm(queries.xyz, axis=1)
    q_direction = queries.xyz / q_distance[:, None]
    # Each query is on the ray of some return: its direction matches one of the returns'.
    best = np.max(q_direction @ direction.T, axis=1)
    assert (best > 1 - 1e-5).all()
    source = np.argmax(q_direction @ direction.T, axis=1)
    delta = q_distance - distance[source]
    front, behind, far = (queries.kind == k for k in (QUERY_FRONT, QUERY_BEHIND, QUERY_FAR))
    assert all(0.25 < mask.mean() < 0.42 for mask in (front, behind, far))
    assert ((delta[front] <= -0.05 + 1e-4) & (delta[front] >= -0.5 - 1e-4)).all()
    assert ((delta[behind] >= -1e-4) & (delta[behind] <= 0.1 + 1e-4)).all()
    assert (delta[far] <= -0.5 + 1e-4).all()
    np.testing.assert_array_equal(queries.occupancy, behind.astype(np.float32))
    np.testing.assert_allclose(queries.intensity[behind], intensity[source[behind]], rtol=1e-5)
    assert (queries.intensity[~behind] == 0).all()


def test_no_usable_ray_is_a_clear_error():
    with pytest.raises(SpotInputError, match=r"^scan.bin: no return is further than 1.0 m from the sensor"):
        sample_surface_queries(np.zeros((4, 3)), np.zeros(4), np.random.default_rng(0), source="scan.bin")
