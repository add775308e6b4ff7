import numpy as np
import pytest

from spot.runtime import SpotInputError
from spot.runtime.io.fields import normalise_intensity, scan_from_fields, seconds


@pytest.mark.parametrize(
    ("values", "expected"),
    [
        (np.array([0, 255], np.uint8), [0, 1]),
        (np.array([0, 51, 255], np.uint16), [0, 0.2, 1]),  # 8-bit values stored wider
        (np.array([0, 65535], np.uint16), [0, 1]),
        (np.array([0.0, 0.5], np.float32), [0, 0.5]),  # already normalised
        (np.array([0.0, 127.5, 255.0], np.float32), [0, 0.5, 1]),  # 0-255 floats (ROS Velodyne)
        (np.array([-1.0, 0.5], np.float32), [0, 0.5]),  # clipped
        (np.array([0.0, 1e6], np.float64), [0, 1]),  # unknown scale: by the maximum
    ],
)
def test_intensity_rule(values, expected):
    result = normalise_intensity(values)
    assert result.dtype == np.float32
    np.testing.assert_allclose(result, expected, atol=1e-6)


def test_integer_time_is_nanoseconds():
    np.testing.assert_allclose(seconds(np.array([0, 50_000_000], np.uint32)), [0, 0.05])
    np.testing.assert_allclose(seconds(np.array([0.1], np.float64)), [0.1])


def test_fields_map_by_alias_in_canonical_order():
    n = 4
    fields = {"time_stamp": np.arange(n, dtype=np.uint32), "laser_id": np.arange(n), "z": np.zeros(n)}
    fields |= {"x": np.ones(n), "y": np.ones(n), "Intensity": np.full(n, 100, np.uint8)}
    scan = scan_from_fields(fields, "f.pcd")
    assert scan.columns == ("x", "y", "z", "intensity", "ring", "time")
    np.testing.assert_allclose(scan.intensity, 100 / 255)
    with pytest.raises(SpotInputError, match=r"f.pcd: has no \['z'\] field"):
        scan_from_fields({"x": np.ones(2), "y": np.ones(2)}, "f.pcd")
