import numpy as np
import pytest

from spot.runtime import SpotInputError
from spot.runtime.sensors import SENSORS, SensorDescription, sensor_by_key


@pytest.mark.parametrize(
    ("key", "beams", "lowest", "highest", "columns"),
    [("hdl64", 64, -24.87, 2.0, 2083), ("hdl32", 32, -30.67, 10.67, 2250), ("vlp16", 16, -15.0, 15.0, 1800),
     ("os128", 128, -21.82, 20.95, 1024)],
)  # fmt: skip
def test_catalogue_has_the_data_sheet_beam_layouts(key, beams, lowest, highest, columns):
    sensor = SENSORS[key]
    angles = np.asarray(sensor.vertical_angles_deg)
    assert sensor.beams == beams and len(np.unique(angles)) == beams
    assert angles.min() == pytest.approx(lowest) and angles.max() == pytest.approx(highest)
    assert round(360 / sensor.horizontal_resolution_deg) == columns
    ascending = sensor.extras["ring_order"] == "bottom_up"
    assert np.all(np.diff(angles) > 0) if ascending else np.all(np.diff(angles) < 0)
    assert 0 < sensor.extras["range_accuracy_m"] <= 0.05
    assert SensorDescription.from_dict(sensor.to_dict()) == sensor


def test_vlp16_steps_two_degrees_and_hdl64_has_two_blocks():
    np.testing.assert_allclose(np.diff(SENSORS["vlp16"].vertical_angles_deg), 2.0)
    steps = np.diff(SENSORS["hdl64"].vertical_angles_deg)
    assert steps[:31] == pytest.approx(0.516, abs=0.01) and steps[32:] == pytest.approx(1 / 3, abs=0.01)


def test_unknown_sensor_lists_the_known_ones():
    with pytest.raises(SpotInputError, match=r"unknown sensor 'hdl128'.*'hdl32', 'hdl64', 'os128', 'vlp16'"):
        sensor_by_key("hdl128")


@pytest.mark.realdata
def test_os128_angles_are_the_recorded_units_calibration(lidar_data):
    import json

    calibration = json.loads((lidar_data / "ouster" / "OS-1-128_v2.3.0_1024x10.json").read_text())
    np.testing.assert_allclose(SENSORS["os128"].vertical_angles_deg, calibration["beam_altitude_angles"])
