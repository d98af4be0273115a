"""Keras custom GRU cells read through custom_objects -> fastgru.CustomGRU, built here with real
Keras 3: units from the weights when the config has none, a whole custom GRU layer class, and
the refusals (unmapped class, built-in class, weights that do not fit)."""
import numpy as np
import pytest

import fastgru
from fastgru import CustomGRU, FastGRUError

keras = pytest.importorskip("keras")
ops = keras.ops
PACKAGE = "custom_gru_tests"


@keras.saving.register_keras_serializable(package=PACKAGE)
class NoUnitsCell(keras.layers.Layer):
    """h = tanh(xh + hh) blended by z = hard_sigmoid(xz + hz); its config leaves units out."""

    def __init__(self, units=3, n_weights=3, **kwargs):
        super().__init__(**kwargs)
        self.units, self.n_weights = units, n_weights
        self.state_size = self.output_size = units

    def build(self, input_shape):
        u = self.units
        self.kernel = self.add_weight(shape=(input_shape[-1], 3 * u), name="kernel")
        self.recurrent_kernel = self.add_weight(shape=(u, 3 * u), name="recurrent_kernel")
        self.bias = self.add_weight(shape=(3 * u,), name="bias", initializer="random_normal")
        if self.n_weights > 3:
            self.extra = self.add_weight(shape=(u,), name="extra")

    def call(self, inputs, states):
        h = states[0] if isinstance(states, (list, tuple)) else states
        u = self.units
        x = ops.matmul(inputs, self.kernel) + self.bias
        hu = ops.matmul(h, self.recurrent_kernel)
        z = keras.activations.hard_sigmoid(x[:, :u] + hu[:, :u])
        cand = ops.tanh(x[:, 2 * u:] + hu[:, 2 * u:])
        h_new = z * h + (1 - z) * cand
        return h_new, [h_new]

    def get_config(self):
        return {**super().get_config(), "n_weights": self.n_weights}


NO_UNITS = CustomGRU(z="hard_sigmoid(xz + hz)", candidate="tanh(xh + hh)")


@keras.saving.register_keras_serializable(package=PACKAGE)
class WholeGRU(keras.layers.RNN):
    """A custom GRU layer class: an RNN over NoUnitsCell that builds its own cell."""

    def __init__(self, units, **kwargs):
        kwargs.pop("cell", None)
        super().__init__(NoUnitsCell(units), **kwargs)
        self.units = units

    def get_config(self):
        config = {**super().get_config(), "units": self.units}
        config.pop("cell")
        return config


def _saved(tmp_path, layer_fn, name):
    x = keras.Input((6, 2), name="x")
    y = keras.layers.Dense(2, name="head")(layer_fn()(x))
    model = keras.Model(x, y, name=name)
    path = tmp_path / f"{name}.keras"
    model.save(path)
    xs = np.random.default_rng(0).normal(size=(3, 6, 2)).astype(np.float32)
    return path, xs, np.asarray(model.predict(xs, verbose=0))


@pytest.mark.parametrize("options", [dict(), dict(go_backwards=True, return_sequences=True)])
def test_units_come_from_the_weights_when_the_config_has_none(tmp_path, options):
    path, xs, want = _saved(tmp_path, lambda: keras.layers.RNN(NoUnitsCell(4), **options),
                            "no_units")
    model = fastgru.load(path, custom_objects={f"{PACKAGE}>NoUnitsCell": NO_UNITS})
    np.testing.assert_allclose(model.predict(xs), want, atol=1e-5)
    # the class name works as the key as well as the registered name
    model = fastgru.load(path, custom_objects={"NoUnitsCell": NO_UNITS})
    np.testing.assert_allclose(model.predict(xs), want, atol=1e-5)


def test_a_whole_custom_gru_layer_class_maps_to_a_custom_gru(tmp_path):
    path, xs, want = _saved(tmp_path, lambda: WholeGRU(5, return_sequences=True, name="whole"),
                            "whole")
    model = fastgru.load(path, custom_objects={f"{PACKAGE}>WholeGRU": NO_UNITS})
    np.testing.assert_allclose(model.predict(xs), want, atol=1e-5)
    assert [layer.name for layer in model.layers][1] == "whole"


def test_unmapped_and_builtin_classes_are_refused(tmp_path):
    path, _, _ = _saved(tmp_path, lambda: keras.layers.RNN(NoUnitsCell(4)), "refused")
    with pytest.raises(FastGRUError, match=r"custom class 'custom_gru_tests>NoUnitsCell'.*"
                                           r"custom_objects.*fastgru.CustomGRU"):
        fastgru.load(path)
    with pytest.raises(FastGRUError, match="built-in Keras class"):
        fastgru.load(path, custom_objects={"GRUCell": CustomGRU()})


def test_weights_that_do_not_fit_the_cell_are_named(tmp_path):
    path, _, _ = _saved(tmp_path, lambda: keras.layers.RNN(NoUnitsCell(4, n_weights=4)),
                        "four_weights")
    with pytest.raises(FastGRUError, match=r"expected kernel, recurrent_kernel and an "
                                           r"optional bias, found 4 weights"):
        fastgru.load(path, custom_objects={"NoUnitsCell": NO_UNITS})
