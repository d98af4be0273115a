"""The cost of running a GRU from its declared equations: ``fastgru.CustomGRU()`` (the
standard equations as bytecode) against the fixed fused GRU path, on the benchmark workloads
T1 (batched) and S2 (stream, one step a call), same weights, same threads.

    python tools/bench_custom_gru.py [--workloads T1,S2] [--threads 1] [--rounds 15]

Rounds alternate fixed / custom, so machine load hits both alike; each figure is a median
over rounds, and the ratio is custom time / fixed time (the issue's target: at most 1.15).
"""
import argparse
import os
import statistics
import sys
import time

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, ROOT)

import numpy as np  # noqa: E402

from fastgru import CustomGRU  # noqa: E402
from fastgru.format import pack_model  # noqa: E402
from fastgru.model import Model  # noqa: E402
from fastgru.spec import LayerInfo, ModelSpec, OpSpec, TensorSpec  # noqa: E402
from tools.bench.workloads import WORKLOADS, make_case  # noqa: E402


def gru_image(weights: dict, *, sequences: bool, custom: bool) -> bytes:
    """One GRU layer (reset_after) with Keras `weights` (kernel, recurrent_kernel, bias), as a
    gru op or as the custom_gru op of CustomGRU() (the same equations)."""
    input_dim, u = weights["kernel"].shape[0], weights["recurrent_kernel"].shape[0]
    y_shape = (None, u) if sequences else (u,)
    attrs = {"units": u, "reset_after": True, "return_sequences": sequences}
    if custom:
        attrs["cell"] = CustomGRU()
    op = OpSpec("custom_gru" if custom else "gru", "gru", ["x", None, None], ["y", None], attrs,
                weights)
    tensors = {"x": TensorSpec("x", "float32", (None, input_dim)),
               "y": TensorSpec("y", "float32", y_shape)}
    layer = LayerInfo("gru", "GRU", {}, list(weights.items()), [y_shape])
    return pack_model(ModelSpec("bench", 3, "bench", ["x"], ["y"], tensors, [op], [layer]))


def one_round(workload, model, x):
    """Seconds per call: a predict of the whole batch (T1) or one stream step (S2)."""
    if not workload.stream:
        start = time.perf_counter()
        model.predict(x)
        return time.perf_counter() - start
    stream = model.stream(batch_size=workload.batch)
    out = np.empty((workload.batch, workload.units), np.float32)
    steps = 2000
    start = time.perf_counter()
    for t in range(steps):
        stream.step(x[:, t % x.shape[1]], out=out)
    return (time.perf_counter() - start) / steps


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--workloads", default="T1,S2")
    parser.add_argument("--threads", type=int, default=1)
    parser.add_argument("--rounds", type=int, default=15)
    args = parser.parse_args()
    print(f"{'workload':<8} {'fixed':>12} {'custom':>12} {'custom / fixed':>15}  max |diff|")
    for name in args.workloads.split(","):
        workload = WORKLOADS[name]
        case = make_case(workload, seed=0)
        weights = {k: case[k] for k in ("kernel", "recurrent_kernel", "bias")}
        models = {c: Model(gru_image(weights, sequences=not workload.stream, custom=c),
                           threads=args.threads) for c in (False, True)}
        x = case["x"]
        diff = float(np.abs(models[True].predict(x) - models[False].predict(x)).max())
        times = {False: [], True: []}
        for _ in range(args.rounds):
            for custom in (False, True):
                times[custom].append(one_round(workload, models[custom], x))
        fixed, custom = (statistics.median(times[c]) for c in (False, True))
        unit, scale = ("ms", 1e3) if not workload.stream else ("us", 1e6)
        print(f"{name:<8} {fixed * scale:>9.3f} {unit} {custom * scale:>9.3f} {unit} "
              f"{custom / fixed:>15.3f}  {diff:.1e}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
