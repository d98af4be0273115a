"""Time-major recurrent ops for spec_reference: written from tf-keras' rule (backend.rnn with
time_major=True) that the input, its mask and the returned sequence are (time, batch, ...),
i.e. the model's batch axis is time. The op runs batch-major on the swapped arrays."""
from __future__ import annotations


def time_major_aware(run):
    """`run(op, env, carried)` of a recurrent kind, taking time-major ops too (they return
    sequences only, with no states in or out)."""
    def wrapped(op, env, carried):
        if not op.attrs.get("time_major"):
            return run(op, env, carried)
        swapped = dict(env)
        x, mask = op.inputs[0], op.inputs[1]
        swapped[x] = env[x].swapaxes(0, 1)
        if mask is not None:
            swapped[mask] = env[mask].T
        y, *states = run(op, swapped, carried)
        return [y.swapaxes(0, 1), *states]
    return wrapped


def reverse_time(x, attrs):
    """reverse_time: the per-sample time axis, or the model's batch axis (batch_axis)."""
    return x[::-1] if attrs.get("batch_axis") else x[:, ::-1]
