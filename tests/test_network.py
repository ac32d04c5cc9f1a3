"""model.network: NetConfig and the CRNN build_model makes from it."""

import numpy as np
import pytest

from model.network import NUM_CLASSES, NetConfig, build_model, validate


@pytest.mark.parametrize("stride,pools", [(2, ((2, 2), (2, 1), (1, 1))),
                                          (1, ((2, 2), (2, 2), (2, 1))),
                                          (3, ((2, 2), (1, 1), (1, 3)))])
@pytest.mark.parametrize("width", [28, 61, 139, 140, 141, 280])
def test_logits_shape_follows_the_width(width, stride, pools):
    cfg = NetConfig(first_stride=stride, conv_filters=(4, 8, 8), pools=pools, dense=8,
                    gru_units=(4,))
    model = build_model(cfg)
    out = model(np.zeros((2, 28, width, 1), np.float32))
    assert tuple(out.shape) == (2, cfg.time_steps(width), NUM_CLASSES)


def test_time_steps_and_width_factor():
    cfg = NetConfig()
    assert cfg.width_factor == 4
    # The strided convolution rounds up, the pooling after it floors.
    assert cfg.time_steps(140) == 35 and cfg.time_steps(143) == 36 and cfg.time_steps(1) == 0
    old = NetConfig(first_stride=1, pools=((2, 2), (2, 2), (2, 1)))
    assert old.width_factor == 4 and old.time_steps(143) == 35


def test_a_config_saved_before_the_stride_existed_reads_as_stride_1():
    saved = {k: v for k, v in NetConfig().to_dict().items() if k != "first_stride"}
    assert NetConfig.from_dict(saved).first_stride == 1


def test_config_round_trips_through_json_types():
    import json

    cfg = NetConfig(conv_filters=(8, 16), pools=((2, 2), (2, 1)), gru_units=(12, 6))
    assert NetConfig.from_dict(json.loads(json.dumps(cfg.to_dict()))) == cfg


@pytest.mark.parametrize("cfg", [
    NetConfig(conv_filters=(8, 8)),  # 2 convs, 3 poolings
    NetConfig(height=4),
    NetConfig(dropout=1.0),
    NetConfig(gru_units=()),
    NetConfig(first_stride=0),
    NetConfig(first_stride=4, pools=((2, 2), (2, 2), (2, 1))),  # 28 rows pool to nothing
])
def test_impossible_architectures_are_refused(cfg):
    with pytest.raises(ValueError):
        validate(cfg)


def test_a_saved_model_loads_in_safe_mode_with_the_same_logits_and_config(tmp_path):
    import json

    import keras

    keras.utils.set_random_seed(0)
    model = build_model(NetConfig(conv_filters=(4, 8, 8), dense=8, gru_units=(4,)))
    model.save(tmp_path / "model.keras")
    loaded = keras.models.load_model(tmp_path / "model.keras", safe_mode=True)
    x = np.random.default_rng(0).uniform(0, 255, (3, 28, 61, 1)).astype(np.float32)
    np.testing.assert_allclose(np.asarray(loaded(x, training=False)),
                               np.asarray(model(x, training=False)), rtol=0, atol=1e-6)
    # As JSON: a loaded config holds lists where the built one holds tuples.
    assert json.loads(loaded.to_json()) == json.loads(model.to_json())
