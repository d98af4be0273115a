"""tf-keras' time_major=True recurrent layers (Keras 3 has no such option).

A time-major layer reads its input as (time, batch, features): the model's batch axis (axis 0)
is time and its first per-sample axis the batch. The recurrent op runs so (its time_major
attribute), and its sequence comes back (time, batch, units), a tensor like any other. Its
last output and final states are (batch, units): they have no model batch axis, which the
image's tensors always have, so a layer that returns them is refused, naming why.
"""
from __future__ import annotations

_WHY = ("time_major=True: the model's batch axis is time, so {what} (batch, units) has no model "
        "batch axis and fastgru cannot describe it; use return_sequences=True{hint}")


def time_major_flag(b, layer, rnn_cfg) -> bool:
    """The layer's time_major option (tf-keras only)."""
    time_major = b.flag(layer.name, rnn_cfg, "time_major", False)
    if time_major and b.keras_version == 3:
        b.fail(layer.name, "time_major=True in a Keras 3 file (Keras 3 has no such option)")
    return time_major


def check_time_major_outputs(b, layer, params, starts, want_state):
    """Refuses what a time-major recurrent op cannot give: outputs with no model batch axis,
    initial states (also (batch, units)) and carried states (across calls of the model's
    batch rows, which are time steps here)."""
    if not params.get("time_major"):
        return
    if not params["return_sequences"]:
        b.fail(layer.name, _WHY.format(what="its last output", hint=""))
    if want_state:
        b.fail(layer.name, _WHY.format(what="each final state", hint=" without return_state"))
    if starts:
        b.fail(layer.name, _WHY.format(what="an initial state", hint=" without initial states"))
    if params["stateful"]:
        b.fail(layer.name, "time_major=True with stateful=True is not supported: the model's "
                           "batch rows are time steps, so there are no per-sequence states to "
                           "carry between calls")


def reverse_time(b, layer, y, hint, time_major):
    """y with its time axis reversed: the model's batch axis for a time-major sequence."""
    flipped = b.value(hint, "float32", y.shape)
    b.add_op("reverse_time", layer.name, [y.name], [flipped.name],
             {"batch_axis": 1} if time_major else {})
    return flipped
