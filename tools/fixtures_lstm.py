"""Fixture builders for LSTM and SimpleRNN (and their mixes with GRU), registered in the
catalogue of tools/fixtures_catalogue.py: the options grid, initial / returned states, masks
(pre, post, fully masked rows), Bidirectional with every merge mode and an LSTM's four
states, stateful layers, stacked cells mixing the three, and parallel branches."""
from __future__ import annotations

from fixtures_catalogue import PADDING_NOTE, Env, Fixture, builder, pad_rows


@builder("lstm_options")
def lstm_options(env: Env) -> Fixture:
    L = env.layers
    x = env.keras.Input((6, 4), name="x")
    h = L.LSTM(6, activation="elu", return_sequences=True, name="lstm_a")(x)
    h = L.LSTM(5, use_bias=False, go_backwards=True, recurrent_activation="hard_sigmoid",
               return_sequences=True, name="lstm_b")(h)
    h = L.SimpleRNN(4, activation="relu", return_sequences=True, name="rnn_a")(h)
    last = L.SimpleRNN(3, use_bias=False, go_backwards=True, name="rnn_b")(h)
    y = L.Dense(2, name="head")(last)
    model = env.keras.Model(x, [y, h], name="lstm_options")
    return Fixture(model, [env.normal(4, 6, 4)],
                   "LSTM(6, elu) -> LSTM(5, no bias, go_backwards, hard_sigmoid (Keras 2 vs 3 "
                   "formula differs)) -> SimpleRNN(4, relu) -> SimpleRNN(3, no bias, "
                   "go_backwards) -> Dense; outputs [head, rnn_a sequence]")


@builder("lstm_state")
def lstm_state(env: Env) -> Fixture:
    L = env.layers
    x = env.keras.Input((6, 4), name="x")
    h0 = env.keras.Input((5,), name="h0")
    c0 = env.keras.Input((5,), name="c0")
    seq, h, c = L.LSTM(5, return_sequences=True, return_state=True,
                       name="lstm")(x, initial_state=[h0, c0])
    out, h_rnn = L.SimpleRNN(3, return_state=True, name="rnn")(seq)
    model = env.keras.Model([x, h0, c0], [seq, h, c, out, h_rnn], name="lstm_state")
    return Fixture(model, [env.normal(3, 6, 4), env.normal(3, 5), env.normal(3, 5)],
                   "LSTM(5, return_sequences, return_state) with initial_state=[h0, c0] "
                   "-> SimpleRNN(3, return_state); outputs [sequence, h, c, rnn output, rnn h]")


@builder("lstm_masking")
def lstm_masking(env: Env) -> Fixture:
    L = env.layers
    x = env.keras.Input((7, 4), name="x")
    m = L.Masking(0.0, name="mask")(x)
    seq, h, c = L.LSTM(6, return_sequences=True, return_state=True, name="lstm_seq")(m)
    zeroed = L.LSTM(4, return_sequences=True, zero_output_for_mask=True, name="lstm_zero")(seq)
    rnn = L.SimpleRNN(5, return_sequences=True, name="rnn_seq")(m)
    back = L.SimpleRNN(3, go_backwards=True, name="rnn_back")(rnn)
    model = env.keras.Model(x, [seq, h, c, zeroed, rnn, back], name="lstm_masking")
    return Fixture(model, [pad_rows(env.normal(5, 7, 4))],
                   "Masking -> LSTM(6, return_sequences, return_state) -> LSTM(4, "
                   "zero_output_for_mask); Masking -> SimpleRNN(5, return_sequences) -> "
                   "SimpleRNN(3, go_backwards); outputs [sequence, h, c (carried through "
                   "masked steps), zero-output sequence, rnn sequence, rnn last]; "
                   + PADDING_NOTE)


@builder("lstm_bidi")
def lstm_bidi(env: Env) -> Fixture:
    L = env.layers
    x = env.keras.Input((7, 4), name="x")
    m = L.Masking(0.0, name="mask")(x)
    y, h_fw, c_fw, h_bw, c_bw = L.Bidirectional(
        L.LSTM(5, return_sequences=True, return_state=True), name="bi_concat")(m)
    outs = [y, h_fw, c_fw, h_bw, c_bw,
            L.Bidirectional(L.LSTM(4), merge_mode="sum", name="bi_sum")(x),
            L.Bidirectional(L.SimpleRNN(4, return_sequences=True), merge_mode="mul",
                            name="bi_mul")(m),
            L.Bidirectional(L.LSTM(3), merge_mode="ave", name="bi_ave")(m)]
    outs += L.Bidirectional(L.SimpleRNN(3), merge_mode=None, name="bi_none")(x)
    model = env.keras.Model(x, outs, name="lstm_bidi")
    return Fixture(model, [pad_rows(env.normal(5, 7, 4))],
                   "Masking -> Bidirectional(LSTM(5, return_sequences, return_state)) concat "
                   "with its 4 states [h_fw, c_fw, h_bw, c_bw]; LSTM sum (unmasked); "
                   "SimpleRNN(return_sequences) mul (masked); LSTM ave (masked); SimpleRNN "
                   "merge_mode=None (unmasked); " + PADDING_NOTE)


@builder("lstm_stacked")
def lstm_stacked(env: Env) -> Fixture:
    L = env.layers
    x = env.keras.Input((6, 4), name="x")
    # the cells list is not in the order of their .keras weight groups' names (lstm_cell,
    # gru_cell, lstm_cell_1, ... sort otherwise): the list orders them
    stacked = L.RNN([L.LSTMCell(5), L.GRUCell(6), L.LSTMCell(4), L.SimpleRNNCell(3)],
                    return_sequences=True, return_state=True, name="rnn")(x)
    single = L.RNN(L.LSTMCell(3), go_backwards=True, name="rnn_lstm")(x)
    model = env.keras.Model(x, {"stacked": list(stacked), "single": single},
                            name="lstm_stacked")
    return Fixture(model, [env.normal(3, 6, 4)],
                   "RNN([LSTMCell(5), GRUCell(6), LSTMCell(4), SimpleRNNCell(3)], "
                   "return_sequences, return_state), whose states nest each LSTM cell's "
                   "[h, c]; RNN(LSTMCell(3), go_backwards); outputs a dict {stacked: "
                   "[sequence, [h, c], h, [h, c], h], single}")


@builder("lstm_stateful")
def lstm_stateful(env: Env) -> Fixture:
    L = env.layers
    x = env.keras.Input((5, 4), batch_size=3, name="x")
    h = L.LSTM(6, stateful=True, return_sequences=True, name="lstm")(x)
    h = L.SimpleRNN(4, stateful=True, name="rnn")(h)
    y = L.Dense(2, name="head")(h)
    model = env.keras.Model(x, y, name="lstm_stateful")
    calls = [[env.normal(3, 5, 4)] for _ in range(3)]
    return Fixture(model, calls[0],
                   "stateful LSTM (h and c carried) -> stateful SimpleRNN, batch fixed at 3: "
                   "call 0, call 1 (state carried), reset_states(), call 2; outputs from "
                   "direct model(x) calls", stateful_calls=calls)


@builder("rnn_gru_branches")
def rnn_gru_branches(env: Env) -> Fixture:
    L = env.layers
    x = env.keras.Input((6, 4), name="x")
    a = L.SimpleRNN(5, return_sequences=True, name="rnn_branch")(x)
    b = L.GRU(4, return_sequences=True, name="gru_branch")(x)
    joined = L.Concatenate(name="join")([a, b])
    h = L.LSTM(5, name="lstm_head")(joined)
    y = L.Dense(2, name="head")(h)
    model = env.keras.Model(x, y, name="rnn_gru_branches")
    return Fixture(model, [env.normal(4, 6, 4)],
                   "parallel SimpleRNN(5) and GRU(4) sequences joined by Concatenate -> "
                   "LSTM(5) -> Dense(2)")
