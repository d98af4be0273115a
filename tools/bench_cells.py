"""The three recurrent cells' matrix rates side by side: fastgru.GRU, LSTM and SimpleRNN on the
same shapes, GFLOP/s of their two matrix products and each cell's rate over the GRU's.

    python tools/bench_cells.py [--threads 1] [--rounds 15] [--batches 1,64,256]

The cells' calls are interleaved round by round and each figure is the fastest round's, so a
shared machine's drifting speed falls on all three alike; on one thread the time is the
process's CPU time (a busy machine's descheduling left out: ratios within a few per cent where
wall times spread by tens). The ratios are the figures to compare between builds, the absolute
rates only on an idle machine.
"""
from __future__ import annotations

import argparse
import os
import time

import numpy as np

# gates per cell: the multiply-adds a step are 2 * batch * gates * units * (input_dim + units)
CELLS = {"GRU": 3, "LSTM": 4, "SimpleRNN": 1}


def make_layer(fastgru, cell, gates, input_dim, units, threads, rng):
    kernel = rng.uniform(-0.1, 0.1, (input_dim, gates * units)).astype(np.float32)
    recurrent = rng.uniform(-0.1, 0.1, (units, gates * units)).astype(np.float32)
    bias = rng.uniform(-0.1, 0.1, (2, 3 * units) if cell == "GRU" else (gates * units,))
    return getattr(fastgru, cell)(units, kernel, recurrent, bias.astype(np.float32),
                                  return_sequences=True, threads=threads)


def rates(batch, steps, input_dim, units, threads, rounds):
    """{cell: GFLOP/s of its fastest round} over interleaved rounds of one call each."""
    import fastgru
    rng = np.random.default_rng(batch)
    layers = {cell: make_layer(fastgru, cell, gates, input_dim, units, threads, rng)
              for cell, gates in CELLS.items()}
    x = rng.uniform(-1, 1, (batch, steps, input_dim)).astype(np.float32)
    clock = time.process_time if threads == 1 else time.perf_counter
    seconds = {cell: [] for cell in CELLS}
    for layer in layers.values():
        layer(x)  # warm up: workspace, caches, the thread team
    for _ in range(rounds):
        for cell, layer in layers.items():
            start = clock()
            layer(x)
            seconds[cell].append(clock() - start)
    flops = {cell: 2.0 * batch * steps * gates * units * (input_dim + units)
             for cell, gates in CELLS.items()}
    return {cell: flops[cell] / min(seconds[cell]) / 1e9 for cell in CELLS}


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--threads", type=int, default=1)
    parser.add_argument("--rounds", type=int, default=15)
    parser.add_argument("--batches", default="1,64,256")
    parser.add_argument("--input-dim", type=int, default=64)
    parser.add_argument("--units", type=int, default=256)
    args = parser.parse_args(argv)
    print(f"threads={args.threads}, in {args.input_dim} -> units {args.units}, "
          f"load avg {os.getloadavg()[0]:.2f}")
    print("| batch | steps | " + " | ".join(f"{c} GFLOP/s" for c in CELLS)
          + " | LSTM ÷ GRU | SimpleRNN ÷ GRU |")
    print("| ---: | ---: |" + " ---: |" * (len(CELLS) + 2))
    for batch in (int(b) for b in args.batches.split(",")):
        steps = max(16, 4096 // batch)  # about the same work a call at every batch
        r = rates(batch, steps, args.input_dim, args.units, args.threads, args.rounds)
        print(f"| {batch} | {steps} | " + " | ".join(f"{r[c]:.1f}" for c in CELLS)
              + f" | {r['LSTM'] / r['GRU']:.2f} | {r['SimpleRNN'] / r['GRU']:.2f} |", flush=True)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
