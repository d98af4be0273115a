"""The cost of a time-major GRU (tf-keras' time_major=True): the op reading (time, batch, F)
through its strides, against the batch-major op on (batch, time, F), and against the design
it replaced, a transpose of the input into batch-major order before the run and of the output
back after it. Same weights, same threads, on the batched benchmark workloads.

    python tools/bench_time_major.py [--workloads L1,T1] [--threads 1] [--rounds 15]

Rounds alternate the three, so machine load hits them alike; each figure is a median over
rounds, and the ratios are against the batch-major run.
"""
import argparse
import os
import statistics
import sys
import time

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, ROOT)

import numpy as np  # noqa: E402

from fastgru.format import pack_model  # noqa: E402
from fastgru.model import Model  # noqa: E402
from fastgru.spec import LayerInfo, ModelSpec, OpSpec, TensorSpec  # noqa: E402
from tools.bench.workloads import WORKLOADS, make_case  # noqa: E402


def image(workload, case, time_major: bool) -> bytes:
    """GRU(units, return_sequences); time-major: per-sample (batch, F), the batch fixed."""
    u, first = workload.units, workload.batch if time_major else None
    attrs = {"units": u, "reset_after": True, "return_sequences": True,
             "time_major": time_major}
    weights = {k: case[k] for k in ("kernel", "recurrent_kernel", "bias")}
    op = OpSpec("gru", "gru", ["x", None, None], ["y", None], attrs, weights)
    tensors = {"x": TensorSpec("x", "float32", (first, workload.input_dim)),
               "y": TensorSpec("y", "float32", (first, u))}
    layer = LayerInfo("gru", "GRU", {}, list(weights.items()), [(first, u)])
    return pack_model(ModelSpec("bench", 2, "bench", ["x"], ["y"], tensors, [op], [layer]))


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--workloads", default="L1,T1")
    parser.add_argument("--threads", type=int, default=1)
    parser.add_argument("--rounds", type=int, default=15)
    args = parser.parse_args()
    print(f"{'workload':<8} {'batch-major':>12} {'time-major':>12} {'transposed':>12} "
          f"{'tm / bm':>8} {'tr / bm':>8}")
    for name in args.workloads.split(","):
        workload = WORKLOADS[name]
        case = make_case(workload, seed=0)
        batch_major = Model(image(workload, case, False), threads=args.threads)
        time_major = Model(image(workload, case, True), threads=args.threads)
        x = case["x"]
        x_tm = np.ascontiguousarray(x.transpose(1, 0, 2))
        runs = {
            "bm": lambda: batch_major.predict(x),
            "tm": lambda: time_major.predict(x_tm),
            # the transpose design: (T, B, F) in, (T, B, U) out, around a batch-major run
            "tr": lambda: np.ascontiguousarray(batch_major.predict(
                np.ascontiguousarray(x_tm.transpose(1, 0, 2))).transpose(1, 0, 2)),
        }
        assert np.array_equal(runs["tm"](), runs["tr"]())   # bitwise the same numbers
        times = {k: [] for k in runs}
        for _ in range(args.rounds):
            for k, run in runs.items():
                start = time.perf_counter()
                run()
                times[k].append(time.perf_counter() - start)
        bm, tm, tr = (statistics.median(times[k]) * 1e3 for k in ("bm", "tm", "tr"))
        print(f"{name:<8} {bm:>9.3f} ms {tm:>9.3f} ms {tr:>9.3f} ms {tm / bm:>8.3f} "
              f"{tr / bm:>8.3f}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
