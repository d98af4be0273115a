"""Conv1D throughput: fastgru's conv1d op against fastgru's Dense GEMM doing the same
multiply-adds, and against Keras 3 on jax (predict_on_batch, and the bare jitted
jax.lax convolution), all timed in the same run.

    KERAS_BACKEND=jax python tools/bench_conv.py [--threads 1] [--repeats 20]

Each case is a Conv1D(filters, kernel_size) on (batch, steps, channels); its Dense peer is
Dense(filters) on (batch, steps', kernel_size * channels / groups * groups), the GEMM an
im2col conv would run. The table gives GFLOP/s (2 flops per multiply-add) and the ratios
conv / dense and fastgru / Keras; wall times are only meaningful on an idle machine.
"""
from __future__ import annotations

import argparse
import os
import statistics
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

# (label, batch, steps, channels, Conv1D arguments)
CASES = (
    ("same k3", 8, 256, 64, dict(filters=64, kernel_size=3, padding="same")),
    ("causal k5 d2", 8, 256, 64, dict(filters=64, kernel_size=5, padding="causal",
                                      dilation_rate=2)),
    ("valid k3 s2", 8, 256, 64, dict(filters=128, kernel_size=3, strides=2)),
    ("same k3 groups4", 8, 256, 64, dict(filters=64, kernel_size=3, padding="same", groups=4)),
    ("causal k3 batch1", 1, 64, 32, dict(filters=32, kernel_size=3, padding="causal")),
)


def best_seconds(fn, repeats):
    fn()   # warm up (compilation, packing, caches)
    times = []
    for _ in range(repeats):
        t0 = time.perf_counter()
        fn()
        times.append(time.perf_counter() - t0)
    return statistics.median(times)


def build(keras, batch_steps_channels, layer):
    _, steps, channels = batch_steps_channels
    x = keras.Input((steps, channels))
    model = keras.Model(x, layer(x))
    rng = np.random.default_rng(0)
    for w in model.weights:
        w.assign(rng.uniform(-0.3, 0.3, w.shape).astype("float32"))
    return model


def run_case(label, batch, steps, channels, kw, threads, repeats, tmp):
    import fastgru
    import jax
    import keras
    conv = build(keras, (batch, steps, channels), keras.layers.Conv1D(**kw))
    x = np.random.default_rng(1).normal(size=(batch, steps, channels)).astype(np.float32)
    out_steps = conv.output.shape[1]
    groups = kw.get("groups", 1)
    depth = kw["kernel_size"] * channels // groups
    flops = 2.0 * batch * out_steps * depth * kw["filters"]
    # the same multiply-adds as one GEMM: rows = output steps, depth = window size
    dense = build(keras, (batch, out_steps, depth), keras.layers.Dense(kw["filters"] // groups))
    xd = np.random.default_rng(2).normal(size=(batch, out_steps, depth)).astype(np.float32)
    dense_flops = 2.0 * batch * out_steps * depth * (kw["filters"] // groups)
    fg = {}
    for name, model in (("conv", conv), ("dense", dense)):
        path = Path(tmp) / f"{name}.keras"
        model.save(path)
        fg[name] = fastgru.load(path, threads=threads)
    got, want = fg["conv"].predict(x), np.asarray(conv.predict_on_batch(x))
    error = float(np.max(np.abs(got - want)))
    kernel = jax.numpy.asarray(conv.layers[1].kernel.numpy())
    span = kw.get("dilation_rate", 1) * (kw["kernel_size"] - 1) + 1
    padding = {"valid": "VALID", "same": "SAME", "causal": [(span - 1, 0)]}[kw.get("padding", "valid")]
    lax_conv = jax.jit(lambda v: jax.lax.conv_general_dilated(
        v, kernel, (kw.get("strides", 1),), padding,
        rhs_dilation=(kw.get("dilation_rate", 1),), feature_group_count=groups,
        dimension_numbers=("NWC", "WIO", "NWC")))
    xj = jax.numpy.asarray(x)
    seconds = {
        "fastgru conv1d": best_seconds(lambda: fg["conv"].predict(x), repeats),
        "fastgru dense": best_seconds(lambda: fg["dense"].predict(xd), repeats) * flops / dense_flops,
        "keras predict_on_batch": best_seconds(lambda: conv.predict_on_batch(x), repeats),
        "jax.lax conv (jit)": best_seconds(lambda: lax_conv(xj).block_until_ready(), repeats),
    }
    return label, flops, seconds, error


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--threads", type=int, default=1)
    parser.add_argument("--repeats", type=int, default=20)
    args = parser.parse_args(argv)
    os.environ.setdefault("KERAS_BACKEND", "jax")
    print(f"threads={args.threads}; GFLOP/s (dense: its rate on the same flop count); "
          f"ratios are fastgru conv1d over each peer's time; load avg {os.getloadavg()[0]:.2f}")
    header = ("case", "fastgru conv1d", "fastgru dense", "keras predict_on_batch",
              "jax.lax conv (jit)")
    print(" | ".join(header) + " | conv/dense | vs keras | vs jax.lax | max |err|")
    with tempfile.TemporaryDirectory() as tmp:
        for label, batch, steps, channels, kw in CASES:
            label, flops, s, error = run_case(label, batch, steps, channels, kw, args.threads,
                                              args.repeats, tmp)
            rates = [f"{flops / s[h] / 1e9:.1f}" for h in header[1:]]
            conv = s["fastgru conv1d"]
            print(" | ".join([label] + rates) +
                  f" | {s['fastgru dense'] / conv:.2f} | {s['keras predict_on_batch'] / conv:.2f}"
                  f" | {s['jax.lax conv (jit)'] / conv:.2f} | {error:.1e}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
