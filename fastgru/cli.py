"""The ``fastgru`` command line (also ``python -m fastgru``).

Exit status 0 on success, 2 on a bad argument or a bad file, with a one-line message on stderr.
"""
from __future__ import annotations

import argparse
import os
import sys
import time
from typing import List, Optional, Sequence

import numpy as np

from .errors import FastGRUError


class _ArgumentParser(argparse.ArgumentParser):
    """argparse that reports usage errors as fastgru errors (one line, exit status 2)."""

    def error(self, message):
        raise FastGRUError(f"{self.prog}: {message}")


def _median_seconds(fn, repeats: int) -> float:
    fn()  # warm-up: first call plans the workspace
    times = []
    for _ in range(repeats):
        start = time.perf_counter()
        fn()
        times.append(time.perf_counter() - start)
    return float(np.median(times))


def _as_list(outputs) -> list:
    return list(outputs) if isinstance(outputs, (list, tuple)) else [outputs]


def _cmd_demo(args) -> int:
    from importlib import resources

    from .loader import load

    data = resources.files("fastgru") / "data"
    with resources.as_file(data / "demo.keras") as model_path, \
            resources.as_file(data / "demo_io.npz") as io_path:
        model = load(model_path, threads=args.threads)
        stored = np.load(io_path)
        x, y_keras = stored["x"], stored["y"]
        description = str(stored["description"]) if "description" in stored else ""
    y = model.predict(x)
    error = float(np.max(np.abs(y - y_keras)))
    per_call = _median_seconds(lambda: model.predict(x), repeats=20)
    print(f"fastgru demo: {description}" if description else "fastgru demo")
    model.summary()
    print(f"input  {tuple(x.shape)} {x.dtype}")
    print(f"output {tuple(y.shape)}; first rows:")
    print(np.array2string(y[:3], precision=5, suppress_small=True))
    print(f"max abs error against Keras' stored output: {error:.2e}")
    print(f"time per predict call (batch {x.shape[0]}): {per_call * 1e3:.3f} ms")
    return 0 if error <= 1e-5 else 1


def _load(args):
    from .loader import load

    return load(args.model, config=args.config, threads=getattr(args, "threads", None),
                precision=getattr(args, "precision", "float32"))


def _cmd_inspect(args) -> int:
    model = _load(args)
    meta = model.metadata
    origin = meta.get("source_format") or "fastgru image"
    version = meta.get("keras_version")
    print(f"{args.model}: {origin}" + (f", written by Keras {version}" if version else ""))
    precision = meta.get("precision")
    if precision:
        print(f"weights stored as {precision.get('dtype')} (computed in float32): max abs "
              f"output error vs float32 {precision.get('max_abs_error_vs_float32'):.3g} "
              f"on the probe {precision.get('probe')}")
    else:
        print("weights stored as float32")
    model.summary()
    print("\nLayer details:")
    for layer in model.layers:
        weights = ", ".join(f"{name.split('/')[-1]} {shape}" for name, shape in layer.weight_shapes)
        config = " ".join(f"{k}={v}" for k, v in layer.highlights.items())
        print(f"  {layer.name}: {config or '-'}" + (f"\n      weights: {weights}" if weights else ""))
    return 0


def _read_inputs(paths: Sequence[str]) -> list:
    arrays = []
    for path in paths:
        if not os.path.exists(path):
            raise FastGRUError(f"{path}: no such input file")
        try:
            loaded = np.load(path, allow_pickle=False)
        except (ValueError, OSError) as exc:
            raise FastGRUError(f"{path}: not a readable .npy/.npz file ({exc})") from None
        if isinstance(loaded, np.lib.npyio.NpzFile):
            arrays.extend(loaded[key] for key in loaded.files)
        else:
            arrays.append(loaded)
    return arrays


def _cmd_run(args) -> int:
    model = _load(args)
    inputs = _read_inputs(args.inputs)
    outputs = _as_list(model.predict(inputs if len(inputs) > 1 else inputs[0],
                                     batch_size=args.batch_size))
    if len(outputs) == 1 and not args.output.endswith(".npz"):
        np.save(args.output, outputs[0])
    else:
        np.savez(args.output, **{f"y{i}": out for i, out in enumerate(outputs)})
    shapes = ", ".join(str(tuple(o.shape)) for o in outputs)
    print(f"wrote {args.output}: {shapes}")
    return 0


def _cmd_convert(args) -> int:
    from .loader import convert

    convert(args.model, args.output, config=args.config, dtype=args.dtype, format=args.format,
            name=args.name)
    print(f"wrote {args.output} ({os.path.getsize(args.output)} bytes)")
    return 0


def _random_input(info, rng, batch: int, timesteps: int) -> np.ndarray:
    """A random array for one model input: unknown lengths become `timesteps`; token ids
    (integer inputs) stay small so they fall inside any Embedding's vocabulary."""
    shape = [batch] + [timesteps if d is None else d for d in info.shape[1:]]
    if np.issubdtype(info.dtype, np.integer):
        return rng.integers(0, 2, size=shape).astype(info.dtype)
    return rng.standard_normal(shape).astype(np.float32)


def _cmd_bench(args) -> int:
    model = _load(args)
    timesteps = args.timesteps
    rng = np.random.default_rng(0)
    print(f"{'batch':>6} {'timesteps':>9} {'ms/call':>10} {'us/sequence':>12}")
    for batch in args.batch_sizes:
        inputs = [_random_input(info, rng, batch, timesteps) for info in model.inputs]
        feed = inputs if len(inputs) > 1 else inputs[0]
        seconds = _median_seconds(lambda: model.predict(feed), repeats=args.repeats)
        print(f"{batch:>6} {timesteps:>9} {seconds * 1e3:>10.3f} {seconds / batch * 1e6:>12.1f}")
    return 0


def _cmd_info(args) -> int:
    from . import _core

    info = _core.info()
    print(f"isa: {info['isa']} (available: {', '.join(info['isa_available'])})")
    print(f"thread backends: {'; '.join(info['thread_backends'])}")
    print(f"default threads: {info['default_threads']} ({info['default_threads_reason']})")
    return 0


def _parser() -> argparse.ArgumentParser:
    parser = _ArgumentParser(prog="fastgru", description=__doc__.splitlines()[0])
    sub = parser.add_subparsers(dest="command", required=True, parser_class=_ArgumentParser)

    def with_model(p):
        p.add_argument("model", help="a .keras, .h5, .weights.h5 (with --config) or .fgru file")
        p.add_argument("--config", help="model.to_json() output, for weights-only files")
        p.add_argument("--threads", type=int, default=None, help="threads (default: all cores)")
        return p

    def with_precision(p):
        p.add_argument("--precision", choices=("float32", "bfloat16"), default="float32",
                       help="bfloat16: the GRU products in bf16 (faster, ~1e-2 error); "
                            "default exact float32")

    demo = sub.add_parser("demo", help="run the bundled example model against Keras' output")
    demo.add_argument("--threads", type=int, default=None)
    demo.set_defaults(func=_cmd_demo)

    with_model(sub.add_parser("inspect", help="print the layer table")).set_defaults(
        func=_cmd_inspect)

    run = with_model(sub.add_parser("run", help="run inference on .npy / .npz inputs"))
    run.add_argument("inputs", nargs="+", help="one .npy per model input, or one .npz")
    run.add_argument("-o", "--output", required=True, help="output .npy (or .npz)")
    run.add_argument("--batch-size", type=int, default=None)
    with_precision(run)
    run.set_defaults(func=_cmd_run)

    convert = sub.add_parser("convert", help="write the converted .fgru format, or a C header")
    convert.add_argument("model")
    convert.add_argument("-o", "--output", required=True)
    convert.add_argument("--config")
    convert.add_argument("--dtype", default="float32", choices=("float32", "float16", "bfloat16"),
                         help="stored weight dtype (compute is float32); a reduced one records "
                              "its measured error, shown by inspect")
    convert.add_argument("--format", choices=("fgru", "c"), default="fgru",
                         help="fgru: the model image; c: the image as a C header (const array)")
    convert.add_argument("--name", help="C symbol prefix for --format c (default: from -o)")
    convert.set_defaults(func=_cmd_convert)

    bench = with_model(sub.add_parser("bench", help="time inference at a few batch sizes"))
    bench.add_argument("--batch-sizes", type=lambda s: [int(v) for v in s.split(",")],
                       default=[1, 8, 64])
    bench.add_argument("--timesteps", type=int, default=100)
    bench.add_argument("--repeats", type=int, default=7)
    with_precision(bench)
    bench.set_defaults(func=_cmd_bench)

    sub.add_parser("info", help="print the active ISA, thread backends and default thread "
                                "count").set_defaults(func=_cmd_info)
    return parser


def main(argv: Optional[List[str]] = None) -> int:
    try:
        args = _parser().parse_args(argv)
        return args.func(args)
    except FastGRUError as exc:
        print(f"fastgru: error: {exc}", file=sys.stderr)
        return 2
