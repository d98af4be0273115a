"""Fixture builders for tf-keras' time_major=True recurrent layers (Keras 3 has no such
option), registered in the catalogue of tools/fixtures_catalogue.py. A time-major model's
batch axis is time: x0 is (T, B, F) and each sequence comes back (T, B, units). Covered: GRU
(reset_after 0 and 1), LSTM, SimpleRNN, go_backwards, masks, Bidirectional, stacked cells and
time-major layers feeding Dense. Layers returning their last output or states are refused
(the `time_major` fixture of fixtures_catalogue.py)."""
from __future__ import annotations

from fixtures_catalogue import PADDING_NOTE, Env, Fixture, builder, pad_rows


def _time_major(x):
    """(B, T, F) -> (T, B, F)."""
    return x.transpose(1, 0, 2).copy()


@builder("tm_gru", keras3=False)
def tm_gru(env: Env) -> Fixture:
    L = env.layers
    x = env.keras.Input((None, 3), name="x")   # (T, B, 3): B is the image's open axis
    h = L.GRU(5, time_major=True, return_sequences=True, name="gru_after")(x)
    h = L.GRU(4, time_major=True, return_sequences=True, reset_after=False, go_backwards=True,
              name="gru_before")(h)
    r = L.SimpleRNN(3, time_major=True, return_sequences=True, name="rnn")(h)
    y = L.Dense(2, name="head")(r)
    model = env.keras.Model(x, [y, h], name="tm_gru")
    return Fixture(model, [_time_major(env.normal(4, 6, 3))],
                   "time-major GRU(5, reset_after) -> GRU(4, reset_after=False, go_backwards) "
                   "-> SimpleRNN(3) -> Dense(2), all return_sequences; x0 is (T=6, B=4, F=3); "
                   "outputs [head, gru_before sequence (processing order)]")


@builder("tm_masking", keras3=False)
def tm_masking(env: Env) -> Fixture:
    L = env.layers
    x = env.keras.Input((5, 4), name="x")      # a fixed batch of 5 sequences, time-major
    m = L.Masking(0.0, name="mask")(x)
    g = L.GRU(5, time_major=True, return_sequences=True, name="gru")(m)
    s = L.LSTM(4, time_major=True, return_sequences=True, zero_output_for_mask=True,
               name="lstm_zero")(g)
    r = L.SimpleRNN(3, time_major=True, return_sequences=True, go_backwards=True,
                    name="rnn_back")(s)
    y = L.Dense(2, name="head")(r)
    model = env.keras.Model(x, [g, s, r, y], name="tm_masking")
    return Fixture(model, [_time_major(pad_rows(env.normal(5, 7, 4)))],
                   "Masking -> time-major GRU(5) -> LSTM(4, zero_output_for_mask) -> "
                   "SimpleRNN(3, go_backwards) -> Dense(2), all return_sequences; x0 is (T=7, "
                   "B=5, F=4) with the mask over (T, B); sequence b is row b of "
                   + PADDING_NOTE)


@builder("tm_bidi", keras3=False)
def tm_bidi(env: Env) -> Fixture:
    L = env.layers
    x = env.keras.Input((None, 3), name="x")
    m = L.Masking(0.0, name="mask")(x)
    concat = L.Bidirectional(L.GRU(4, time_major=True, return_sequences=True),
                             name="bidi_gru")(m)
    summed = L.Bidirectional(L.LSTM(3, time_major=True, return_sequences=True),
                             merge_mode="sum", name="bidi_lstm")(concat)
    back_first = L.Bidirectional(L.SimpleRNN(2, time_major=True, return_sequences=True,
                                             go_backwards=True), merge_mode=None,
                                 name="bidi_rnn")(summed)
    y = L.Dense(2, name="head")(summed)
    model = env.keras.Model(x, [concat, y, *back_first], name="tm_bidi")
    return Fixture(model, [_time_major(pad_rows(env.normal(4, 6, 3)))],
                   "Masking -> time-major Bidirectional(GRU(4), concat) -> Bidirectional("
                   "LSTM(3), sum) -> [Dense(2); Bidirectional(SimpleRNN(2, go_backwards), "
                   "merge_mode=None)]; x0 is (T=6, B=4, F=3); the backward sequences are "
                   "flipped along axis 0 (time); sequence b is row b of " + PADDING_NOTE)


@builder("tm_stacked", keras3=False)
def tm_stacked(env: Env) -> Fixture:
    L = env.layers
    x = env.keras.Input((3, 4), name="x")
    cells = L.StackedRNNCells([L.GRUCell(5), L.LSTMCell(4)])
    h = L.RNN(cells, time_major=True, return_sequences=True, go_backwards=True,
              name="stacked")(x)
    y = L.Dense(3, activation="tanh", name="head")(h)
    model = env.keras.Model(x, y, name="tm_stacked")
    return Fixture(model, [_time_major(env.normal(3, 5, 4))],
                   "time-major RNN(StackedRNNCells([GRUCell(5), LSTMCell(4)]), go_backwards, "
                   "return_sequences) -> Dense(3, tanh); x0 is (T=5, B=3, F=4)")
