"""model.inputs.datasets: the time steps CTC needs for a label, exactly."""

import numpy as np
import pytest

from digits.errors import DataError
from model.inputs.datasets import Split, check_time_steps, steps_needed, too_narrow
from model.network import NetConfig


@pytest.mark.parametrize("text,steps", [
    ("", 0), ("7", 1), ("12", 2), ("11", 3), ("111", 5), ("1211", 5), ("00000", 9),
])
def test_steps_needed(text, steps):
    assert steps_needed(text) == steps


def test_too_narrow_uses_the_exact_ctc_bound():
    net = NetConfig()  # 4 columns per time step
    split = Split(["a", "b", "c", "d"], ["12", "11", "11", "123"], np.array([8, 8, 12, 8]))
    assert too_narrow(split, net).tolist() == [1, 3]


def test_check_time_steps_names_the_first_narrow_image():
    split = Split(["a.png", "b.png"], ["12", "11"], np.array([8, 8]))
    with pytest.raises(DataError, match=r"b.png: label '11' .* \(2 time steps, 3 needed\)"):
        check_time_steps(split, NetConfig())
