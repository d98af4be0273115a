"""The fixture model catalogue: one builder per model, written once for Keras 2 and Keras 3.

Each builder takes a ``Env`` (the Keras module in use plus a seeded numpy RNG) and returns a
``Fixture``: the Keras model, its inputs in Keras input order, and notes for the manifest.
``tools/make_fixtures.py`` randomises the weights (biases included), runs Keras, saves every
format and checks each file by reloading it. Builders only use API that tf-keras 2.21 and
Keras 3.15 share, unless they test ``env.keras3`` first.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Callable, Optional

import numpy as np


@dataclass
class Env:
    keras: Any            # keras (3.x) or tf_keras (2.x)
    keras3: bool
    rng: np.random.Generator

    @property
    def layers(self):
        return self.keras.layers

    def normal(self, *shape):
        return self.rng.standard_normal(shape).astype(np.float32)


@dataclass
class Fixture:
    model: Any
    inputs: list                      # arrays in Keras input order (x0, x1, ...)
    notes: str
    randomise_weights: bool = True    # False for trained models
    # Stateful models: batches for call 0, call 1, then (after reset_states) call 2.
    stateful_calls: Optional[list] = None
    custom_objects: dict = field(default_factory=dict)
    needs_unsafe_load: bool = False   # Lambda layers: Keras reloads only with safe_mode=False


BUILDERS: dict[str, Callable[[Env], Fixture]] = {}


def builder(name: str, keras2: bool = True, keras3: bool = True):
    """Register a model builder for the Keras versions it applies to."""
    def register(fn):
        fn.fixture_name = name
        fn.for_keras2 = keras2
        fn.for_keras3 = keras3
        BUILDERS[name] = fn
        return fn
    return register


def pad_rows(x: np.ndarray, value: float = 0.0) -> np.ndarray:
    """Set time steps to the mask value so that row 0 is post-padded, row 1 pre-padded, row 2
    fully masked, row 3 has a hole in the middle and the other rows are unpadded."""
    x = x.copy()
    t = x.shape[1]
    x[0, t - 3:] = value
    x[1, :2] = value
    x[2, :] = value
    if x.shape[0] > 3:
        x[3, t // 2] = value
    return x


PADDING_NOTE = ("mask rows: 0 post-padded (last 3 steps), 1 pre-padded (first 2), 2 fully "
                "masked, 3 one masked step in the middle, others unpadded")


@builder("simple")
def simple(env: Env) -> Fixture:
    L = env.layers
    x = env.keras.Input((6, 4), name="x")
    h = L.GRU(8, name="gru")(x)
    y = L.Dense(3, name="head")(h)
    model = env.keras.Model(x, y, name="simple")
    return Fixture(model, [env.normal(4, 6, 4)], "Input -> GRU(8) -> Dense(3), functional")


@builder("simple_seq")
def simple_seq(env: Env) -> Fixture:
    L = env.layers
    model = env.keras.Sequential(
        [env.keras.Input((6, 4)), L.GRU(8, name="gru"), L.Dense(3, name="head")],
        name="simple_seq")
    return Fixture(model, [env.normal(4, 6, 4)], "simple as a Sequential model")


def gru_options_layers(env: Env) -> list:
    L = env.layers
    return [
        L.GRU(6, reset_after=False, activation="elu", return_sequences=True, name="gru_a"),
        L.GRU(5, use_bias=False, go_backwards=True, recurrent_activation="hard_sigmoid",
              return_sequences=True, name="gru_b"),
        L.GRU(4, use_bias=False, reset_after=False, activation="softsign",
              return_sequences=True, name="gru_c"),
        L.TimeDistributed(L.Dense(3), name="td"),
    ]


GRU_OPTIONS_NOTE = ("gru_a reset_after=False activation=elu; gru_b use_bias=False "
                    "go_backwards recurrent_activation=hard_sigmoid (Keras 2 vs 3 formula "
                    "differs); gru_c use_bias=False reset_after=False activation=softsign; "
                    "TimeDistributed(Dense(3)); all return_sequences")


@builder("variable_length")
def variable_length(env: Env) -> Fixture:
    L = env.layers
    x = env.keras.Input((None, 4), name="x")
    h = L.GRU(6, return_sequences=True, name="gru_seq")(x)
    h = L.GRU(4, name="gru_last")(h)
    y = L.Dense(2, name="head")(h)
    model = env.keras.Model(x, y, name="variable_length")
    return Fixture(model, [env.normal(3, 9, 4)],
                   "Input((None, 4)): time axis of unknown length in the config "
                   "(batch_shape [null, null, 4]); run on T=9")


@builder("gru_options")
def gru_options(env: Env) -> Fixture:
    x = env.keras.Input((7, 5), name="x")
    h = x
    for layer in gru_options_layers(env):
        h = layer(h)
    model = env.keras.Model(x, h, name="gru_options")
    return Fixture(model, [env.normal(3, 7, 5)], GRU_OPTIONS_NOTE)


@builder("gru_options_seq")
def gru_options_seq(env: Env) -> Fixture:
    model = env.keras.Sequential([env.keras.Input((7, 5))] + gru_options_layers(env),
                                 name="gru_options_seq")
    return Fixture(model, [env.normal(3, 7, 5)], "Sequential; " + GRU_OPTIONS_NOTE)


@builder("rnn_cell")
def rnn_cell(env: Env) -> Fixture:
    L = env.layers
    x = env.keras.Input((6, 4), name="x")
    h = L.RNN(L.GRUCell(7), name="rnncell")(x)
    y = L.Dense(2, name="head")(h)
    model = env.keras.Model(x, y, name="rnn_cell")
    return Fixture(model, [env.normal(3, 6, 4)], "RNN(GRUCell(7)) -> Dense(2)")


@builder("stacked_cells")
def stacked_cells(env: Env) -> Fixture:
    L = env.layers
    x = env.keras.Input((6, 4), name="x")
    out, h0, h1 = L.RNN([L.GRUCell(7), L.GRUCell(5, reset_after=False)], return_state=True,
                        name="rnn")(x)
    model = env.keras.Model(x, [out, h0, h1], name="stacked_cells")
    return Fixture(model, [env.normal(3, 6, 4)],
                   "RNN([GRUCell(7), GRUCell(5, reset_after=False)], return_state=True): "
                   "outputs [output, h_cell0, h_cell1]")


@builder("bidi_modes")
def bidi_modes(env: Env) -> Fixture:
    L = env.layers
    x = env.keras.Input((6, 4), name="x")
    outs = [
        L.Bidirectional(L.GRU(5, return_sequences=True), merge_mode="concat", name="bi_concat")(x),
        L.Bidirectional(L.GRU(4), merge_mode="sum", name="bi_sum")(x),
        L.Bidirectional(L.GRU(4, return_sequences=True), merge_mode="mul", name="bi_mul")(x),
        L.Bidirectional(L.GRU(3, reset_after=False), merge_mode="ave", name="bi_ave")(x),
    ]
    outs += L.Bidirectional(L.GRU(3), merge_mode=None, name="bi_none")(x)
    explicit = L.Bidirectional(
        L.GRU(5, name="fw"),
        backward_layer=L.GRU(3, reset_after=False, go_backwards=True, name="bw"),
        name="bi_explicit")(x)
    model = env.keras.Model(x, outs + [explicit], name="bidi_modes")
    return Fixture(model, [env.normal(3, 6, 4)],
                   "outputs: concat (return_sequences), sum, mul (return_sequences), ave "
                   "(reset_after=False), merge_mode=None (two outputs fw, bw), explicit "
                   "backward_layer GRU(3, reset_after=False) with forward GRU(5), concat")


@builder("bidi_state")
def bidi_state(env: Env) -> Fixture:
    L = env.layers
    x = env.keras.Input((6, 4), name="x")
    h_fw = env.keras.Input((5,), name="h_fw")
    h_bw = env.keras.Input((5,), name="h_bw")
    y, s_fw, s_bw = L.Bidirectional(L.GRU(5, return_sequences=True, return_state=True),
                                    name="bidi")(x, initial_state=[h_fw, h_bw])
    y = L.Dense(2, name="head")(y)
    model = env.keras.Model([x, h_fw, h_bw], [y, s_fw, s_bw], name="bidi_state")
    return Fixture(model, [env.normal(3, 6, 4), env.normal(3, 5), env.normal(3, 5)],
                   "Bidirectional(GRU(5, return_sequences, return_state)) with initial_state "
                   "[h_fw, h_bw] from extra Inputs; outputs [Dense(seq), h_fw, h_bw]")


@builder("masking")
def masking(env: Env) -> Fixture:
    L = env.layers
    x = env.keras.Input((7, 4), name="x")
    m = L.Masking(0.0, name="mask")(x)
    seq = L.GRU(6, return_sequences=True, name="gru_seq")(m)
    last = L.GRU(5, name="gru_last")(seq)
    y = L.Dense(2, name="head")(last)
    model = env.keras.Model(x, [y, seq], name="masking")
    return Fixture(model, [pad_rows(env.normal(5, 7, 4))],
                   "Masking(0) -> GRU(return_sequences) -> GRU -> Dense; outputs [head, "
                   "gru_seq sequence]; " + PADDING_NOTE)


@builder("masking_seq")
def masking_seq(env: Env) -> Fixture:
    L = env.layers
    model = env.keras.Sequential([env.keras.Input((7, 4)), L.Masking(0.0, name="mask"),
                                  L.GRU(6, return_sequences=True, name="gru_seq"),
                                  L.GRU(5, name="gru_last"), L.Dense(2, name="head")],
                                 name="masking_seq")
    return Fixture(model, [pad_rows(env.normal(5, 7, 4))],
                   "Sequential Masking -> GRU(return_sequences) -> GRU -> Dense; " + PADDING_NOTE)


@builder("masking_bidi")
def masking_bidi(env: Env) -> Fixture:
    L = env.layers
    x = env.keras.Input((7, 4), name="x")
    m = L.Masking(0.0, name="mask")(x)
    seq = L.Bidirectional(L.GRU(5, return_sequences=True), name="bidi")(m)
    last = L.GRU(4, name="gru_last")(seq)
    y = L.Dense(2, name="head")(last)
    model = env.keras.Model(x, [y, seq], name="masking_bidi")
    return Fixture(model, [pad_rows(env.normal(5, 7, 4))],
                   "Masking -> Bidirectional(GRU(5, return_sequences)) -> GRU(4) -> Dense; "
                   "outputs [head, bidi sequence (zeros at masked steps)]; " + PADDING_NOTE)


@builder("masking_backwards")
def masking_backwards(env: Env) -> Fixture:
    L = env.layers
    x = env.keras.Input((7, 4), name="x")
    m = L.Masking(0.0, name="mask")(x)
    seq = L.GRU(5, go_backwards=True, return_sequences=True, name="gru_back_seq")(m)
    last = L.GRU(4, go_backwards=True, name="gru_back_last")(seq)
    model = env.keras.Model(x, [seq, last], name="masking_backwards")
    return Fixture(model, [pad_rows(env.normal(5, 7, 4))],
                   "Masking -> GRU(go_backwards, return_sequences) -> GRU(go_backwards); "
                   "outputs [reversed-order sequence, last]; " + PADDING_NOTE)


@builder("masking_state")
def masking_state(env: Env) -> Fixture:
    L = env.layers
    x = env.keras.Input((7, 4), name="x")
    m = L.Masking(-1.0, name="mask")(x)
    seq, state = L.GRU(5, return_sequences=True, return_state=True, name="gru_state")(m)
    zeroed = L.GRU(4, return_sequences=True, zero_output_for_mask=True, name="gru_zero")(seq)
    model = env.keras.Model(x, [seq, state, zeroed], name="masking_state")
    return Fixture(model, [pad_rows(env.normal(5, 7, 4), value=-1.0)],
                   "Masking(mask_value=-1.0) -> GRU(5, return_sequences, return_state) -> "
                   "GRU(4, return_sequences, zero_output_for_mask=True); outputs [sequence, "
                   "state (carried through masked steps, unlike the output), zero-output "
                   "sequence]; " + PADDING_NOTE.replace("mask rows", "-1.0-padded rows"))


@builder("masking_initial_state")
def masking_initial_state(env: Env) -> Fixture:
    L = env.layers
    x = env.keras.Input((7, 4), name="x")
    meta = env.keras.Input((3,), name="meta")
    m = L.Masking(0.0, name="mask")(x)
    h0 = L.Dense(5, name="h0")(meta)
    y = L.GRU(5, return_sequences=True, name="gru_init")(m, initial_state=h0)
    model = env.keras.Model([x, meta], y, name="masking_initial_state")
    quirk = ("Keras 3 DROPS the mask here (a GRU called with initial_state gets no mask, "
             "docs/KERAS_FORMATS.md §14.1): every padded step is computed" if env.keras3 else
             "tf-keras applies the mask: pre-padded steps output zeros while the state "
             "stays h0")
    return Fixture(model, [pad_rows(env.normal(5, 7, 4)), env.normal(5, 3)],
                   "Masking -> GRU(5, return_sequences) with initial_state = Dense(meta); "
                   + quirk + "; " + PADDING_NOTE)


@builder("masking_merge")
def masking_merge(env: Env) -> Fixture:
    L = env.layers
    a = env.keras.Input((7, 3), name="a")
    b = env.keras.Input((7, 2), name="b")
    ma = L.Masking(0.0, name="mask_a")(a)
    mb = L.Masking(0.0, name="mask_b")(b)
    cat = L.Concatenate(name="cat")([ma, mb])
    y_cat = L.GRU(5, return_sequences=True, name="gru_cat")(cat)
    added = L.Add(name="add")([ma, L.Dense(3, name="proj_b")(mb)])
    y_add = L.GRU(4, return_sequences=True, name="gru_add")(added)
    model = env.keras.Model([a, b], [y_cat, y_add], name="masking_merge")
    xa = pad_rows(env.normal(5, 7, 3))
    xb = env.normal(5, 7, 2)
    xb[4, 1:3] = 0.0  # masked in b only
    xb[0, 2] = 0.0
    rule = ("Keras 3 merges masks with OR (a step is kept when it is valid in EITHER input)"
            if env.keras3 else "tf-keras merges masks with AND (a step is kept only when it "
            "is valid in both inputs)")
    return Fixture(model, [xa, xb],
                   "two Masking inputs a, b; outputs [GRU(Concatenate([a, b])), "
                   "GRU(Add([a, Dense(b)]))], both return_sequences; " + rule
                   + " (Concatenate and Add alike); a: " + PADDING_NOTE
                   + "; b masked at row 4 steps 1-2 and row 0 step 2")


@builder("gru_inert_options")
def gru_inert_options(env: Env) -> Fixture:
    L = env.layers
    extra = {} if env.keras3 else {"implementation": 1}
    x = env.keras.Input((6, 4), name="x")
    h = L.GRU(6, unroll=True, dropout=0.3, recurrent_dropout=0.2, return_sequences=True,
              name="gru_unrolled", **extra)(x)
    y = L.GRU(4, dropout=0.5, name="gru_dropout")(h)
    model = env.keras.Model(x, y, name="gru_inert_options")
    return Fixture(model, [env.normal(3, 6, 4)],
                   "options that do not change inference: unroll=True, dropout, "
                   "recurrent_dropout" + ("" if env.keras3 else ", implementation=1"))


@builder("embedding_mask")
def embedding_mask(env: Env) -> Fixture:
    L = env.layers
    ids = env.keras.Input((8,), dtype="int32", name="ids")
    e = L.Embedding(20, 6, mask_zero=True, name="emb")(ids)
    h = L.GRU(5, name="gru")(e)
    y = L.Dense(2, name="head")(h)
    model = env.keras.Model(ids, y, name="embedding_mask")
    tokens = env.rng.integers(1, 20, size=(5, 8)).astype(np.int32)
    tokens[0, 5:] = 0
    tokens[1, :3] = 0
    tokens[2, :] = 0
    tokens[3, 4] = 0
    return Fixture(model, [tokens],
                   "Embedding(20, 6, mask_zero) -> GRU(5) -> Dense; int32 ids; row 0 "
                   "post-padded, 1 pre-padded, 2 all zeros, 3 one zero in the middle")


@builder("two_in_two_out")
def two_in_two_out(env: Env) -> Fixture:
    L = env.layers
    seq = env.keras.Input((6, 4), name="seq")
    meta = env.keras.Input((3,), name="meta")
    h0 = L.Dense(6, activation="tanh", name="h0")(meta)
    s = L.GRU(6, return_sequences=True, name="gru_seq")(seq, initial_state=h0)
    per_step = L.Dense(3, name="per_step")(s)
    last = L.GRU(4, name="gru_last")(s)
    score = L.Dense(1, name="score")(last)
    model = env.keras.Model([seq, meta], [per_step, score], name="two_in_two_out")
    return Fixture(model, [env.normal(4, 6, 4), env.normal(4, 3)],
                   "inputs [seq, meta]; initial_state = Dense(tanh)(meta); outputs "
                   "[Dense on the GRU sequence (3-D Dense), Dense(GRU(last))]")


@builder("shared_layer")
def shared_layer(env: Env) -> Fixture:
    L = env.layers
    a = env.keras.Input((6, 4), name="a")
    b = env.keras.Input((6, 4), name="b")
    shared = L.GRU(5, name="shared_gru")
    ha, hb = shared(a), shared(b)
    outs = [L.Concatenate(name="cat")([ha, hb]), L.Add(name="add")([ha, hb]),
            L.Subtract(name="sub")([ha, hb]), L.Multiply(name="mul")([ha, hb]),
            L.Average(name="avg")([ha, hb])]
    model = env.keras.Model([a, b], outs, name="shared_layer")
    return Fixture(model, [env.normal(3, 6, 4), env.normal(3, 6, 4)],
                   "one GRU called on inputs a and b (two inbound nodes); outputs "
                   "Concatenate, Add, Subtract(a-b), Multiply, Average")


@builder("norms")
def norms(env: Env) -> Fixture:
    L = env.layers
    x = env.keras.Input((7, 4), name="x")
    h = L.BatchNormalization(name="bn_in")(x)
    h = L.GRU(8, return_sequences=True, name="gru_1")(h)
    h = L.LayerNormalization(name="ln_1")(h)
    h = L.Dropout(0.3, name="drop")(h)
    h = L.SpatialDropout1D(0.3, name="sdrop")(h)
    h = L.GaussianNoise(0.5, name="gnoise")(h)
    h = L.GaussianDropout(0.3, name="gdrop")(h)
    h = L.AlphaDropout(0.3, name="adrop")(h)
    h = L.GRU(6, return_sequences=True, name="gru_2")(h)
    h = L.BatchNormalization(epsilon=0.01, name="bn_2")(h)
    h = L.Activation("tanh", name="act")(h)
    h = L.LayerNormalization(center=False, epsilon=1e-5, name="ln_2")(h)
    h = L.GRU(4, name="gru_3")(h)
    y = L.Dense(2, activation="sigmoid", name="head")(h)
    model = env.keras.Model(x, y, name="norms")
    return Fixture(model, [env.normal(4, 7, 4)],
                   "BatchNormalization (randomised moving stats, eps 1e-3 and 1e-2), "
                   "LayerNormalization (default and center=False eps 1e-5), Activation, and the "
                   "inference-identity layers Dropout, SpatialDropout1D, GaussianNoise, "
                   "GaussianDropout, AlphaDropout between GRUs")


@builder("stateful")
def stateful(env: Env) -> Fixture:
    L = env.layers
    x = env.keras.Input((5, 4), batch_size=3, name="x")
    h = L.GRU(6, stateful=True, return_sequences=True, name="gru_1")(x)
    h = L.GRU(4, stateful=True, name="gru_2")(h)
    y = L.Dense(2, name="head")(h)
    model = env.keras.Model(x, y, name="stateful")
    calls = [[env.normal(3, 5, 4)] for _ in range(3)]
    return Fixture(model, calls[0],
                   "stateful GRUs, batch fixed at 3: x0_call0/y0_call0, x0_call1/y0_call1 "
                   "(state carried), then reset_states() and x0_call2/y0_call2; x0/y0 = call 0; "
                   "outputs from direct model(x) calls"
                   + (" (Keras 3.15 on jax does not carry state across predict() calls)"
                      if env.keras3 else ""),
                   stateful_calls=calls)


ACTIVATIONS_BOTH = ["swish", "silu", "gelu", "softmax"]
ACTIVATIONS_KERAS3 = ["sparsemax", "hard_silu", "log_sigmoid"]


@builder("activations")
def activations(env: Env) -> Fixture:
    L = env.layers
    names = ACTIVATIONS_BOTH + (ACTIVATIONS_KERAS3 if env.keras3 else [])
    x = env.keras.Input((6, 4), name="x")
    outs = [L.GRU(5, activation=a, name=f"gru_{a}")(x) for a in names]
    # The recurrent activation goes through the same table: one GRU checks it there too.
    outs.append(L.GRU(5, recurrent_activation="softsign", name="gru_rec_softsign")(x))
    model = env.keras.Model(x, outs, name="activations")
    return Fixture(model, [env.normal(3, 6, 4)],
                   "one GRU(5) per activation, outputs in this order: "
                   + ", ".join(names) + ", then recurrent_activation=softsign"
                   + ("; Keras 2 saves silu as swish" if not env.keras3 else "")
                   + ("; Keras' sparsemax is not textbook sparsemax (quirk 14.2)"
                      if env.keras3 else ""))


@builder("time_major", keras3=False)
def time_major(env: Env) -> Fixture:
    L = env.layers
    # time_major: the Input's "batch" axis is time and its second axis the real batch (4).
    x = env.keras.Input((4, 3), name="x")
    h = L.GRU(5, time_major=True, return_sequences=True, name="gru_tm_seq")(x)
    last = L.GRU(4, time_major=True, name="gru_tm_last")(h)
    model = env.keras.Model(x, [h, last], name="time_major")
    return Fixture(model, [env.normal(6, 4, 3)],
                   "time_major=True GRUs: x0 is (T=6, B=4, F=3); outputs [(T, B, 5) sequence, "
                   "(B, 4) last]")


@builder("custom_gru", keras2=False)
def custom_gru(env: Env) -> Fixture:
    keras = env.keras

    @keras.saving.register_keras_serializable(package="my_package")
    class MyGRU(keras.layers.GRU):
        """A GRU subclass with unchanged maths: only its registered name is unknown."""

    x = keras.Input((6, 4), name="x")
    h = MyGRU(6, name="my_gru")(x)
    y = keras.layers.Dense(2, name="head")(h)
    model = keras.Model(x, y, name="custom_gru")
    return Fixture(model, [env.normal(3, 6, 4)],
                   "registered custom class my_package>MyGRU, a GRU subclass with the maths "
                   "of GRU(6): readers refuse it unless custom_objects map it to GRU",
                   custom_objects={"my_package>MyGRU": MyGRU})


@builder("lambda_layer", keras2=False)
def lambda_layer(env: Env) -> Fixture:
    L = env.layers
    x = env.keras.Input((6, 4), name="x")
    h = L.GRU(5, return_sequences=True, name="gru_1")(x)
    h = L.Lambda(lambda t: t * 2.0, name="double")(h)
    y = L.GRU(3, name="gru_2")(h)
    model = env.keras.Model(x, y, name="lambda_layer")
    return Fixture(model, [env.normal(3, 6, 4)],
                   "Lambda(t * 2.0) between two GRUs; its code is marshalled bytecode that "
                   "readers must refuse and never execute (Keras reloads it only with "
                   "safe_mode=False)", needs_unsafe_load=True)


def sentiment_data(rng: np.random.Generator, n: int, length: int = 9, vocab: int = 30):
    """Token ids 1..14 read as positive, 15..29 as negative; label 1 when positives win.
    Sequences are post-padded with zeros to random lengths 3..length."""
    ids = rng.integers(1, vocab, size=(n, length)).astype(np.int32)
    lengths = rng.integers(3, length + 1, size=n)
    ids[np.arange(length)[None, :] >= lengths[:, None]] = 0
    positive = ((ids >= 1) & (ids < 15)).sum(axis=1)
    negative = (ids >= 15).sum(axis=1)
    return ids, (positive > negative).astype(np.float32)


@builder("sentiment")
def sentiment(env: Env) -> Fixture:
    L = env.layers
    ids = env.keras.Input((9,), dtype="int32", name="tokens")
    e = L.Embedding(30, 8, mask_zero=True, name="emb")(ids)
    h = L.Bidirectional(L.GRU(8), name="bigru")(e)
    y = L.Dense(1, activation="sigmoid", name="prob")(h)
    model = env.keras.Model(ids, y, name="sentiment")
    model.compile(optimizer=env.keras.optimizers.Adam(0.01), loss="binary_crossentropy")
    train_ids, labels = sentiment_data(env.rng, 1024)
    model.fit(train_ids, labels, batch_size=32, epochs=4, verbose=0)
    test_ids, _ = sentiment_data(env.rng, 5)
    row = test_ids[4]  # moved to pre-padding
    test_ids[4] = np.concatenate([row[row == 0], row[row != 0]])
    return Fixture(model, [test_ids],
                   "TRAINED and compiled (Adam): the file carries optimizer state that readers "
                   "must skip. Embedding(30, 8, mask_zero) -> Bidirectional(GRU(8)) -> "
                   "Dense(1, sigmoid) on synthetic token data; rows 0-3 post-padded, row 4 "
                   "pre-padded", randomise_weights=False)


def sine_windows(rng: np.random.Generator, n: int, steps: int = 8):
    """Windows of a noisy sine (feature 0) and its noise-free phase clock (feature 1);
    the target is the next noisy value."""
    start = rng.uniform(0, 2 * np.pi, size=(n, 1))
    period = rng.uniform(6.0, 12.0, size=(n, 1))
    t = np.arange(steps + 1)[None, :]
    phase = start + 2 * np.pi * t / period
    signal = np.sin(phase) + 0.1 * rng.standard_normal(phase.shape)
    x = np.stack([signal[:, :steps], np.cos(phase[:, :steps])], axis=-1)
    return x.astype(np.float32), signal[:, steps:].astype(np.float32)


@builder("timeseries")
def timeseries(env: Env) -> Fixture:
    L = env.layers
    keras = env.keras

    def forecaster():
        x = keras.Input((8, 2), name="window")
        h = L.GRU(12, return_sequences=True, name="gru_1")(x)
        h = L.GRU(8, name="gru_2")(h)
        y = L.Dense(1, name="next_value")(h)
        return keras.Model(x, y, name="timeseries")

    trained = forecaster()
    trained.compile(optimizer=keras.optimizers.Adam(0.01), loss="mse")
    train_x, train_y = sine_windows(env.rng, 1024)
    trained.fit(train_x, train_y, batch_size=32, epochs=4, verbose=0)
    # Saved without optimizer state: a never-compiled copy (clone_model keeps the compile).
    model = forecaster()
    model.set_weights(trained.get_weights())
    test_x, _ = sine_windows(env.rng, 4)
    return Fixture(model, [test_x],
                   "TRAINED (saved uncompiled, no optimizer state): GRU(12, return_sequences) "
                   "-> GRU(8) -> Dense(1) forecasting the next value of a noisy sine",
                   randomise_weights=False)
