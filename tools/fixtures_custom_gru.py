"""Fixtures of Keras 3 custom GRU cells (registered classes with their own ``call``), which
fastgru runs from the equations declared for them (tests/custom_gru_fixture_cells.py holds the
matching ``fastgru.CustomGRU`` declarations).

Every cell here stores kernel (in, 3u), recurrent_kernel (u, 3u) and an optional bias, the
three blocks in its gate order, and computes with keras.ops what its docstring says.
"""
from __future__ import annotations

import functools

from fixtures_catalogue import PADDING_NOTE, Env, Fixture, builder, pad_rows

PACKAGE = "fastgru_fixtures"


@functools.lru_cache(maxsize=None)
def cells(keras):
    """The registered cell classes, made once per Keras module."""
    ops = keras.ops

    class DeclaredCell(keras.layers.Layer):
        """Shared plumbing: weights, the x / h projections; subclasses write the gates."""
        reset_after, gate_order, bias_shape = True, "zrh", "2d"   # bias_shape: 2d, 1d, None

        def __init__(self, units, **kwargs):
            super().__init__(**kwargs)
            self.units = units
            self.state_size = units
            self.output_size = units

        def build(self, input_shape):
            u = self.units
            self.kernel = self.add_weight(shape=(input_shape[-1], 3 * u), name="kernel")
            self.recurrent_kernel = self.add_weight(shape=(u, 3 * u), name="recurrent_kernel")
            if self.bias_shape:
                shape = (2, 3 * u) if self.bias_shape == "2d" else (3 * u,)
                self.bias = self.add_weight(shape=shape, name="bias", initializer="zeros")

        def blocks(self, m):
            """The z, r, h blocks of the last axis of m (in gate_order)."""
            u = self.units
            at = {g: k * u for k, g in enumerate(self.gate_order)}
            return [m[..., at[g]:at[g] + u] for g in "zrh"]

        def call(self, inputs, states):
            h = states[0] if isinstance(states, (list, tuple)) else states
            x_all = ops.matmul(inputs, self.kernel)
            h_all = ops.matmul(h, self.recurrent_kernel)
            b_in = b_rec = None
            if self.bias_shape == "2d":
                b_in, b_rec = self.bias[0], self.bias[1]
            elif self.bias_shape == "1d":
                b_in = self.bias
            if b_in is not None:
                x_all = x_all + b_in
            if b_rec is not None:
                h_all = h_all + b_rec
            xz, xr, xh = self.blocks(x_all)
            hz, hr, hh = self.blocks(h_all)
            z = self.z(xz, hz)
            r = self.r(xr, hr)
            if not self.reset_after:
                _, _, u_h = self.blocks(self.recurrent_kernel)
                hh = ops.matmul(r * h, u_h)
                if b_rec is not None:
                    hh = hh + self.blocks(b_rec)[2]
            h_new = self.h(z, h, self.candidate(xh, r, hh))
            return h_new, [h_new]

        def z(self, xz, hz):
            return ops.sigmoid(xz + hz)

        def r(self, xr, hr):
            return ops.sigmoid(xr + hr)

        def candidate(self, xh, r, hh):
            return ops.tanh(xh + r * hh)

        def h(self, z, h_prev, candidate):
            return z * h_prev + (1 - z) * candidate

        def get_config(self):
            return {**super().get_config(), "units": self.units}

    register = keras.saving.register_keras_serializable(package=PACKAGE)

    @register
    class LeakyTextbookCell(DeclaredCell):
        """candidate = leaky_relu(xh + hh, 0.2), r unused, h = (1 - z) h_prev + z candidate."""
        def candidate(self, xh, r, hh):
            return keras.activations.leaky_relu(xh + hh, negative_slope=0.2)

        def h(self, z, h_prev, candidate):
            return (1 - z) * h_prev + z * candidate

    @register
    class PolyUpdateCell(DeclaredCell):
        """z = sigmoid(p**2 - 0.5 p + 0.2), p = xz + hz; reset_after=False, 1-D bias."""
        reset_after, bias_shape = False, "1d"

        def z(self, xz, hz):
            p = xz + hz
            return ops.sigmoid(p ** 2 - 0.5 * p + 0.2)

        def candidate(self, xh, r, hh):
            return ops.tanh(xh + hh)

    @register
    class TextbookCell(DeclaredCell):
        """The textbook GRU by hand: reset before the product, h = (1 - z) h_prev + z h~,
        a 2-D bias (its recurrent row enters hz, hr and hh)."""
        reset_after = False

        def candidate(self, xh, r, hh):
            return ops.tanh(xh + hh)

        def h(self, z, h_prev, candidate):
            return (1 - z) * h_prev + z * candidate

    @register
    class HardCell(DeclaredCell):
        """hard_sigmoid gates, candidate relu(xh + r hh) capped at 6."""
        def z(self, xz, hz):
            return keras.activations.hard_sigmoid(xz + hz)

        def r(self, xr, hr):
            return keras.activations.hard_sigmoid(xr + hr)

        def candidate(self, xh, r, hh):
            return keras.activations.relu(xh + r * hh, max_value=6.0)

    @register
    class RzhNoBiasCell(DeclaredCell):
        """The standard equations, blocks in the order r, z, h, no bias."""
        gate_order, bias_shape = "rzh", None

    return {c.__name__: c for c in (LeakyTextbookCell, PolyUpdateCell, TextbookCell, HardCell,
                                    RzhNoBiasCell)}


def _rnn_fixture(env: Env, name: str, cell_name: str, units: int, notes: str, *,
                 batch: int = 4, steps: int = 7, features: int = 3) -> Fixture:
    keras = env.keras
    cell = cells(keras)[cell_name]
    x = keras.Input((steps, features), name="x")
    h = keras.layers.RNN(cell(units), return_sequences=True, name="rnn")(x)
    y = keras.layers.Dense(2, name="head")(h)
    model = keras.Model(x, y, name=name)
    return Fixture(model, [env.normal(batch, steps, features)],
                   f"keras.layers.RNN({PACKAGE}>{cell_name}({units}), return_sequences) -> "
                   f"Dense: {notes}", custom_objects={f"{PACKAGE}>{cell_name}": cell})


# (fixture, cell class, units, notes): one keras.layers.RNN(cell) -> Dense model each
_SINGLE_CELL_FIXTURES = (
    ("cgru_leaky_textbook", "LeakyTextbookCell", 5,
     "leaky-ReLU candidate, textbook update, reset gate unused"),
    ("cgru_poly_update", "PolyUpdateCell", 4, "polynomial update gate, reset_after=False"),
    ("cgru_textbook", "TextbookCell", 6, "the textbook GRU written by hand, 2-D bias"),
    ("cgru_hard", "HardCell", 5, "hard_sigmoid gates, relu candidate capped at 6"),
    ("cgru_rzh_no_bias", "RzhNoBiasCell", 4, "gate order r, z, h and no bias"),
)
for _name, _cell, _units, _notes in _SINGLE_CELL_FIXTURES:
    builder(_name, keras2=False)(functools.partial(_rnn_fixture, name=_name, cell_name=_cell,
                                                   units=_units, notes=_notes))


@builder("cgru_bidirectional_masked", keras2=False)
def cgru_bidirectional_masked(env: Env) -> Fixture:
    keras = env.keras
    cell = cells(keras)["LeakyTextbookCell"]
    x = keras.Input((7, 3), name="x")
    m = keras.layers.Masking(0.0, name="masking")(x)
    h = keras.layers.Bidirectional(keras.layers.RNN(cell(4), return_sequences=True),
                                   name="bidi")(m)
    y = keras.layers.Dense(2, name="head")(h)
    model = keras.Model(x, y, name="cgru_bidirectional_masked")
    return Fixture(model, [pad_rows(env.normal(5, 7, 3))],
                   f"Masking -> Bidirectional(RNN({PACKAGE}>LeakyTextbookCell(4), "
                   f"return_sequences)) -> Dense; {PADDING_NOTE}",
                   custom_objects={f"{PACKAGE}>LeakyTextbookCell": cell})


@builder("cgru_stateful", keras2=False)
def cgru_stateful(env: Env) -> Fixture:
    keras = env.keras
    cell = cells(keras)["PolyUpdateCell"]
    x = keras.Input((5, 3), batch_size=3, name="x")
    h = keras.layers.RNN(cell(4), stateful=True, name="rnn")(x)
    y = keras.layers.Dense(2, name="head")(h)
    model = keras.Model(x, y, name="cgru_stateful")
    calls = [[env.normal(3, 5, 3)] for _ in range(3)]
    return Fixture(model, calls[0],
                   f"stateful RNN({PACKAGE}>PolyUpdateCell(4)), batch fixed at 3: "
                   "x0_call0/y0_call0, x0_call1/y0_call1 (state carried), then "
                   "reset_states() and x0_call2/y0_call2; x0/y0 = call 0",
                   stateful_calls=calls,
                   custom_objects={f"{PACKAGE}>PolyUpdateCell": cell})
