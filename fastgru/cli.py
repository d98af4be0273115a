"""The ``fastgru`` command line (also ``python -m fastgru``).

Exit status 0 on success, 2 on a bad argument or a bad file, with a one-line message on stderr.
Output cut short by a closed pipe (``fastgru inspect m.keras | head``) ends quietly with the
status a shell gives a process killed by SIGPIPE.
"""
from __future__ import annotations

import argparse
import os
import sys
import time
from typing import List, Optional, Sequence

import numpy as np

from .errors import FastGRUError

DESCRIPTION = ("fastgru: fast CPU inference for Keras GRU models. Run, inspect, time and "
               "convert .keras, .h5 and .fgru model files.")
EXIT_BROKEN_PIPE = 128 + 13     # what a shell reports for a process killed by SIGPIPE


class _UsageError(FastGRUError):
    def __init__(self, prog: str, message: str):
        super().__init__(message)
        self.prog = prog


class _ArgumentParser(argparse.ArgumentParser):
    """argparse that reports usage errors as one line (exit status 2) naming the subcommand."""

    def error(self, message):
        raise _UsageError(self.prog, message)


def _batch_sizes(text: str) -> List[int]:
    try:
        sizes = [int(v) for v in text.split(",")]
    except ValueError:
        sizes = []
    if not sizes or min(sizes) < 1:
        raise argparse.ArgumentTypeError(f"expected comma-separated positive integers such as "
                                         f"1,8,64, got {text!r}")
    return sizes


def _median_seconds(fn, repeats: int) -> float:
    fn()  # warm-up: first call plans the workspace
    times = []
    for _ in range(repeats):
        start = time.perf_counter()
        fn()
        times.append(time.perf_counter() - start)
    return float(np.median(times))


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
    from .storage_precision import describe

    for line in describe(meta):
        print(line)
    model.summary()
    print("\nLayer details:")
    for layer in model.layers:
        weights = ", ".join(f"{name.split('/')[-1]} {shape}" for name, shape in layer.weight_shapes)
        config = " ".join(f"{k}={v}" for k, v in layer.highlights.items())
        print(f"  {layer.name}: {config or '-'}" + (f"\n      weights: {weights}" if weights else ""))
    return 0


def _model_feed(model, paths: Sequence[str]):
    """The predict() argument from the input files: by name when a .npz names every model
    input, else in order."""
    from .npy_io import read_inputs

    named = [item for path in paths for item in read_inputs(path)]
    names = [t.name for t in model.inputs]
    if len(paths) == 1 and sorted(n for n, _ in named) == sorted(names):
        return dict(named)
    arrays = [array for _, array in named]
    return arrays if len(arrays) > 1 else arrays[0]


def _cmd_run(args) -> int:
    from .npy_io import output_path, write_outputs
    from .output_file import check_destination
    from .output_structure import flatten

    model = _load(args)
    check_destination(output_path(args.output, len(model.outputs)))
    outputs = flatten(model.predict(_model_feed(model, args.inputs),
                                    batch_size=args.batch_size))
    named = {t.name: out for t, out in zip(model.outputs, outputs)}
    written = write_outputs(args.output, named)
    shapes = ", ".join(f"{name} {tuple(o.shape)}" for name, o in named.items())
    print(f"wrote {written}: {shapes}")
    return 0


def _cmd_convert(args) -> int:
    from .loader import convert
    from .output_file import check_destination

    check_destination(args.output)
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
    from . import _core

    model = _load(args)
    timesteps = args.timesteps
    rng = np.random.default_rng(0)
    threads = args.threads or _core.default_threads()
    print(f"{args.model}: {threads} threads, ISA {_core.isa_active()}, "
          f"precision {model.precision}; median of {args.repeats} calls")
    print(f"{'batch':>6} {'timesteps':>9} {'ms/call':>10} {'sequences/s':>12} {'steps/s':>12}")
    for batch in args.batch_sizes:
        inputs = [_random_input(info, rng, batch, timesteps) for info in model.inputs]
        feed = inputs if len(inputs) > 1 else inputs[0]
        seconds = _median_seconds(lambda: model.predict(feed), repeats=args.repeats)
        print(f"{batch:>6} {timesteps:>9} {seconds * 1e3:>10.3f} {batch / seconds:>12.4g} "
              f"{batch * timesteps / seconds:>12.4g}")
    return 0


def _cmd_info(args) -> int:
    from . import _core

    info = _core.info()
    print(f"isa: {info['isa']} (available: {', '.join(info['isa_available'])})")
    print(f"thread backends: {'; '.join(info['thread_backends'])}")
    print(f"default threads: {info['default_threads']} ({info['default_threads_reason']})")
    return 0


def _parser() -> argparse.ArgumentParser:
    from . import __version__

    parser = _ArgumentParser(prog="fastgru", description=DESCRIPTION)
    parser.add_argument("--version", action="version", version=f"fastgru {__version__}")
    sub = parser.add_subparsers(dest="command", title="commands", parser_class=_ArgumentParser,
                                help="fastgru COMMAND --help shows a command's options")

    def with_model(p):
        p.add_argument("model", help="a .keras, .h5, .weights.h5 (with --config) or .fgru file")
        p.add_argument("--config", help="model.to_json() output, for weights-only files")
        p.add_argument("--threads", type=int, default=None,
                       help="threads (default: the CPUs this process may use)")
        return p

    def with_precision(p):
        p.add_argument("--precision", choices=("float32", "bfloat16"), default="float32",
                       help="bfloat16: the GRU products in bf16 (faster, ~1e-2 error); "
                            "default exact float32")

    demo = sub.add_parser("demo", help="run the bundled example model against Keras' output")
    demo.add_argument("--threads", type=int, default=None,
                      help="threads (default: the CPUs this process may use)")
    demo.set_defaults(func=_cmd_demo)

    with_model(sub.add_parser("inspect", help="print the layer table")).set_defaults(
        func=_cmd_inspect)

    run = with_model(sub.add_parser("run", help="run inference on .npy / .npz inputs"))
    run.add_argument("inputs", nargs="+", help="one .npy per model input, or one .npz")
    run.add_argument("-o", "--output", required=True,
                     help="output file: .npy for one output, else .npz with the arrays named "
                          "after the model's outputs (the extension is added when missing)")
    run.add_argument("--batch-size", type=int, default=None,
                     help="run the inputs in chunks of this many sequences (default: all at once)")
    with_precision(run)
    run.set_defaults(func=_cmd_run)

    convert = sub.add_parser("convert", help="write the converted .fgru format, or a C header")
    convert.add_argument("model", help="a .keras, .h5 or .weights.h5 (with --config) file")
    convert.add_argument("-o", "--output", required=True, help="the file to write")
    convert.add_argument("--config", help="model.to_json() output, for weights-only files")
    convert.add_argument("--dtype", default="float32", choices=("float32", "float16", "bfloat16"),
                         help="stored weight dtype (compute is float32); a reduced one records "
                              "its measured error, shown by inspect")
    convert.add_argument("--format", choices=("fgru", "c"), default="fgru",
                         help="fgru: the model image; c: the image as a C header (const array)")
    convert.add_argument("--name", help="C symbol prefix for --format c (default: from -o)")
    convert.set_defaults(func=_cmd_convert)

    bench = with_model(sub.add_parser("bench", help="time inference at a few batch sizes"))
    bench.add_argument("--batch-sizes", type=_batch_sizes, default=[1, 8, 64],
                       help="comma-separated batch sizes to time (default: 1,8,64)")
    bench.add_argument("--timesteps", type=int, default=100,
                       help="sequence length of the random inputs (default: 100)")
    bench.add_argument("--repeats", type=int, default=7,
                       help="timed calls per batch size; the median is shown (default: 7)")
    with_precision(bench)
    bench.set_defaults(func=_cmd_bench)

    sub.add_parser("info", help="print the active ISA, thread backends and default thread "
                                "count").set_defaults(func=_cmd_info)
    return parser


def main(argv: Optional[List[str]] = None) -> int:
    parser = _parser()
    try:
        args = parser.parse_args(argv)
        if args.command is None:
            parser.print_help()
            return 0
        status = args.func(args)
        sys.stdout.flush()   # a closed pipe shows here, inside the handler below
        return status
    except _UsageError as exc:
        print(f"{exc.prog}: error: {exc} (see {exc.prog} --help)", file=sys.stderr)
        return 2
    except FastGRUError as exc:
        print(f"fastgru: error: {exc}", file=sys.stderr)
        return 2
    except BrokenPipeError:
        # The reader left (| head): say nothing more, and keep the interpreter's final flush
        # of the dead pipe from printing a traceback.
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
        return EXIT_BROKEN_PIPE
