"""The GPU benchmark: fastgru on a CUDA device against torch ``nn.GRU`` on CUDA (cuDNN) and
fastgru on the CPU, one GRU layer (return_sequences, reset_after) per workload:

    B=1/T=512/64->256, B=256/T=100/64->256, B=64/T=200/256->512, B=1024/T=100/128->128

The same layer as ``fastgru.CustomGRU()`` (the GRU's equations as a custom cell, its kernel
generated from the bytecode) gets a device column of its own.

Device runs are timed with CUDA events around ``--reps`` calls after a warm-up, the CPU with
perf_counter (median of the reps). Every output is checked against the CPU path: within 1e-5,
or the error is reported with the row. Writes a markdown table (``--out``), which
tools/gpu_check.sh produces for BENCHMARKS.md.

    python tools/bench_gpu.py --out gpu_results.md
    python tools/bench_gpu.py --devices cpu --quick      # the CPU column only (no GPU needed)
"""
from __future__ import annotations

import argparse
import os
import statistics
import sys
import time
from typing import Dict, List, NamedTuple

import numpy as np

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
from tools.bench_custom_gru import gru_image  # noqa: E402

TOL = 1e-5


class Workload(NamedTuple):
    batch: int
    steps: int
    inputs: int
    units: int

    @property
    def label(self) -> str:
        return f"B={self.batch}/T={self.steps}/{self.inputs}->{self.units}"


WORKLOADS = [Workload(1, 512, 64, 256), Workload(256, 100, 64, 256), Workload(64, 200, 256, 512),
             Workload(1024, 100, 128, 128)]
QUICK = [Workload(2, 8, 4, 8)]


def keras_weights(wl: Workload, seed: int = 0):
    rng = np.random.default_rng(seed)
    scale = 1 / np.sqrt(wl.units)
    kernel = (rng.standard_normal((wl.inputs, 3 * wl.units)) * scale).astype(np.float32)
    recurrent = (rng.standard_normal((wl.units, 3 * wl.units)) * scale).astype(np.float32)
    bias = (rng.standard_normal((2, 3 * wl.units)) * 0.1).astype(np.float32)
    x = rng.standard_normal((wl.batch, wl.steps, wl.inputs)).astype(np.float32)
    return kernel, recurrent, bias, x


def torch_gru_weights(kernel, recurrent, bias):
    """Keras' (z, r, h) column blocks as torch's (r, z, n) row blocks: weight_ih, weight_hh,
    bias_ih, bias_hh. Both compute n = tanh(x.W_n + b_in + r * (h.U_n + b_hn)) and
    h' = z * h + (1 - z) * n, so the numbers agree."""
    def reorder(a):
        z, r, h = np.split(a, 3, axis=-1)
        return np.concatenate([r, z, h], axis=-1)
    return (reorder(kernel).T.copy(), reorder(recurrent).T.copy(), reorder(bias[0]),
            reorder(bias[1]))


def custom_gru_model(kernel, recurrent, bias, device: str = "cpu"):
    """The workload's layer as a CustomGRU() cell (return_sequences)."""
    from fastgru.model import Model
    weights = {"kernel": kernel, "recurrent_kernel": recurrent, "bias": bias}
    return Model(gru_image(weights, sequences=True, custom=True), device=device)


def time_cpu(fn, reps: int) -> float:
    fn()
    times = []
    for _ in range(reps):
        t0 = time.perf_counter()
        fn()
        times.append(time.perf_counter() - t0)
    return statistics.median(times) * 1e3


def time_cuda(fn, reps: int) -> float:
    import cupy
    fn()
    cupy.cuda.Device().synchronize()
    start, end = cupy.cuda.Event(), cupy.cuda.Event()
    start.record()
    for _ in range(reps):
        fn()
    end.record()
    end.synchronize()
    return cupy.cuda.get_elapsed_time(start, end) / reps


def run(workloads: List[Workload], devices: List[str], reps: int) -> List[Dict]:
    import fastgru
    rows = []
    for wl in workloads:
        kernel, recurrent, bias, x = keras_weights(wl)
        cpu = fastgru.GRU(wl.units, kernel, recurrent, bias, return_sequences=True)
        y_cpu = cpu(x)
        row = {"workload": wl.label, "fastgru CPU ms": time_cpu(lambda: cpu(x), reps)}
        if "cuda" in devices:
            import cupy
            gpu = fastgru.GRU(wl.units, kernel, recurrent, bias, return_sequences=True,
                              device="cuda")
            x_d = cupy.asarray(x)
            row["fastgru GPU ms"] = time_cuda(lambda: gpu(x_d), reps)
            row["fastgru GPU error"] = float(np.abs(cupy.asnumpy(gpu(x_d)) - y_cpu).max())
            custom = custom_gru_model(kernel, recurrent, bias, "cuda")
            row["CustomGRU GPU ms"] = time_cuda(lambda: custom.predict(x_d), reps)
            row["CustomGRU GPU error"] = float(
                np.abs(cupy.asnumpy(custom.predict(x_d)) - y_cpu).max())
            row.update(_torch_row(wl, kernel, recurrent, bias, x, y_cpu, reps))
        rows.append(row)
        print(row, file=sys.stderr)
    return rows


def _torch_row(wl, kernel, recurrent, bias, x, y_cpu, reps) -> Dict:
    try:
        import torch
    except ImportError as e:
        return {"cuDNN": f"torch not installed ({e})"}
    w_ih, w_hh, b_ih, b_hh = torch_gru_weights(kernel, recurrent, bias)
    gru = torch.nn.GRU(wl.inputs, wl.units, batch_first=True).cuda().eval()
    with torch.no_grad():
        for name, value in (("weight_ih_l0", w_ih), ("weight_hh_l0", w_hh),
                            ("bias_ih_l0", b_ih), ("bias_hh_l0", b_hh)):
            getattr(gru, name).copy_(torch.from_numpy(value))
    x_t = torch.from_numpy(x).cuda()

    def call():
        with torch.no_grad():
            return gru(x_t)[0]
    start, end = torch.cuda.Event(enable_timing=True), torch.cuda.Event(enable_timing=True)
    call()
    torch.cuda.synchronize()
    start.record()
    for _ in range(reps):
        call()
    end.record()
    torch.cuda.synchronize()
    return {"cuDNN ms": start.elapsed_time(end) / reps,
            "cuDNN error": float(np.abs(call().cpu().numpy() - y_cpu).max())}


def table(rows: List[Dict]) -> str:
    cols = ["workload", "fastgru GPU ms", "cuDNN ms", "fastgru CPU ms", "GPU / cuDNN",
            "fastgru GPU error", "cuDNN error", "CustomGRU GPU ms", "CustomGRU GPU error"]
    lines = ["| " + " | ".join(cols) + " |", "|" + "---|" * len(cols)]
    for r in rows:
        if isinstance(r.get("fastgru GPU ms"), float) and isinstance(r.get("cuDNN ms"), float):
            r["GPU / cuDNN"] = f"{r['cuDNN ms'] / r['fastgru GPU ms']:.2f}x"
        cells = [f"{r[c]:.3g}" if isinstance(r.get(c), float) else str(r.get(c, "")) for c in cols]
        lines.append("| " + " | ".join(cells) + " |")
    worst = max((r.get(c, 0.0) for r in rows for c in ("fastgru GPU error",
                                                       "CustomGRU GPU error")), default=0.0)
    lines.append("")
    lines.append(f"Worst fastgru GPU error against the CPU path: {worst:.2e} "
                 f"({'within' if worst <= TOL else 'ABOVE'} {TOL:g}).")
    return "\n".join(lines) + "\n"


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--devices", default="cpu,cuda", help="cpu,cuda (default) or cpu")
    parser.add_argument("--reps", type=int, default=20)
    parser.add_argument("--quick", action="store_true", help="one tiny workload")
    parser.add_argument("--out", help="write the markdown table here (default: stdout)")
    args = parser.parse_args(argv)
    rows = run(QUICK if args.quick else WORKLOADS, args.devices.split(","), args.reps)
    text = table(rows)
    if args.out:
        with open(args.out, "w") as f:
            f.write(text)
    else:
        print(text)
    return 0


if __name__ == "__main__":
    sys.exit(main())
