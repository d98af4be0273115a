"""tools/bench_gpu.py without a GPU: its CPU column runs and its table is well formed, and the
Keras -> torch weight conversion it gives cuDNN reproduces fastgru's numbers (checked with
torch's GRU equations written in numpy, so torch itself is not needed)."""
from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import numpy as np

import fastgru

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))
from tools import bench_gpu  # noqa: E402


def _torch_gru(x, w_ih, w_hh, b_ih, b_hh):
    """torch.nn.GRU's documented equations (gates r, z, n), batch_first."""
    B, T, _ = x.shape
    u = w_hh.shape[1]
    h = np.zeros((B, u), np.float64)
    ys = []
    sig = lambda v: 1 / (1 + np.exp(-v))   # noqa: E731
    for t in range(T):
        gi = x[:, t] @ w_ih.T + b_ih
        gh = h @ w_hh.T + b_hh
        r = sig(gi[:, :u] + gh[:, :u])
        z = sig(gi[:, u:2 * u] + gh[:, u:2 * u])
        n = np.tanh(gi[:, 2 * u:] + r * gh[:, 2 * u:])
        h = (1 - z) * n + z * h
        ys.append(h)
    return np.stack(ys, axis=1)


def test_torch_weight_conversion_reproduces_fastgru():
    wl = bench_gpu.Workload(3, 7, 5, 6)
    kernel, recurrent, bias, x = bench_gpu.keras_weights(wl)
    want = fastgru.GRU(wl.units, kernel, recurrent, bias, return_sequences=True)(x)
    got = _torch_gru(x.astype(np.float64), *bench_gpu.torch_gru_weights(kernel, recurrent, bias))
    np.testing.assert_allclose(got, want, atol=1e-5)


def test_custom_gru_column_model_is_the_workload_gru():
    """The CustomGRU() column's model computes the same layer as the GRU rows."""
    wl = bench_gpu.Workload(3, 7, 5, 6)
    kernel, recurrent, bias, x = bench_gpu.keras_weights(wl)
    want = fastgru.GRU(wl.units, kernel, recurrent, bias, return_sequences=True)(x)
    got = bench_gpu.custom_gru_model(kernel, recurrent, bias).predict(x)
    np.testing.assert_allclose(got, want, atol=1e-6, rtol=0)


def test_cpu_column_and_table(tmp_path):
    out = tmp_path / "gpu.md"
    subprocess.run([sys.executable, str(REPO / "tools" / "bench_gpu.py"), "--devices", "cpu",
                    "--quick", "--reps", "2", "--out", str(out)], check=True, cwd=REPO)
    lines = out.read_text().splitlines()
    assert lines[0].startswith("| workload | fastgru GPU ms | cuDNN ms | fastgru CPU ms")
    row = lines[2].split("|")
    assert row[1].strip() == "B=2/T=8/4->8" and float(row[4]) > 0
