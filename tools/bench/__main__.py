"""python -m tools.bench: time fastgru against other CPU GRU (and LSTM) engines, measure the
rest of its performance targets, and write BENCHMARKS.md.

    python -m tools.bench                    # full run -> BENCHMARKS.md
    python -m tools.bench --quick --only torch,numpy --workloads S1,L1
    python -m tools.bench --quick --cells lstm --extras none    # the LSTM table alone
    python -m tools.bench --quick --only fastgru --extras c_stream,memory

Peers are the engines importable in this Python (tools/bench/requirements.txt lists them; a
missing one is skipped with a note); fastgru is imported from this checkout, built in place
(`python setup.py build_ext --inplace`). Run it from the repository root.

Each (peer, thread count) runs in a fresh worker process (peer_worker.py) with every threading
knob set before the engine starts, --rounds times in alternating order; then each extra
measurement (extras.py) runs in its own processes; report.py writes the page.
"""
import argparse
import importlib.util
import os
import shlex
import sys
import tempfile

import numpy as np

from . import extras, report
from .peer_worker import merge_rounds, result_path, run_worker
from .peers import PEER_NAMES
from .processes import REPO_ROOT, run_job, run_subprocess
from .workloads import (WORKLOADS, case_path, case_seed, make_case, named, reference_sequence,
                        selected)


def save_models(workloads, workdir):
    """Save the workloads as .keras models, a GRU or an LSTM layer (fastgru streams run on
    loaded models), and convert each to .fgru (what the C streaming bench and the extras
    load)."""
    # any backend saves the same file: the peers' (tensorflow) where it is installed
    os.environ["KERAS_BACKEND"] = next(
        (b for b in ("tensorflow", "jax", "torch") if importlib.util.find_spec(b)), "tensorflow")
    try:
        import keras
    except ImportError as exc:
        sys.exit(f"cannot save the models for fastgru.load: {exc}")
    paths = []
    for workload in workloads:
        with np.load(case_path(workdir, workload)) as data:
            layer = (keras.layers.LSTM(workload.units, return_sequences=True)
                     if workload.cell == "lstm" else
                     keras.layers.GRU(workload.units, return_sequences=True, reset_after=True))
            model = keras.Sequential([keras.Input((None, workload.input_dim)), layer])
            model.set_weights([data["kernel"], data["recurrent_kernel"], data["bias"]])
        paths.append(os.path.join(workdir, workload.name))
        model.save(paths[-1] + ".keras")
    import fastgru  # after every .keras is saved: a fastgru that fails to import spoils no more
    for path in paths:
        fastgru.convert(path + ".keras", path + ".fgru")


def run_peers(peers, threads, args, common, notes):
    """Every (thread count, peer) worker, once a round; the merged results."""
    rounds, order = [], [(n, peer) for n in threads for peer in peers]
    for round_no in range(1, args.rounds + 1):
        # every other round walks the workers backwards, so a drift of the shared machine's
        # speed over the run does not always fall on the same engines
        results = [run_job(["--worker", peer, "--threads", str(n)] + common, n,
                           result_path(args.workdir, peer, n), args.timeout, notes,
                           f"{peer}, {n} thread(s)", round_no)
                   for n, peer in (order if round_no % 2 else order[::-1])]
        rounds.append([result for result in results if result])
    return merge_rounds(rounds)


def run_driver(args):
    workloads = selected(args.workloads.split(","), args.quick, args.cells.split(","))
    peers = args.only.split(",") if args.only else PEER_NAMES
    for peer in peers:
        if peer not in PEER_NAMES:
            sys.exit(f"unknown peer {peer!r}; expected some of {', '.join(PEER_NAMES)}")
    threads = [int(n) for n in args.threads.split(",")]
    chosen = extras.selected(args.extras)
    args.workdir = args.workdir or tempfile.mkdtemp(prefix="fastgru_bench_")
    os.makedirs(args.workdir, exist_ok=True)
    print(f"work files in {args.workdir}", flush=True)
    names = {w.name for w in workloads} | extras.needed_workloads(chosen)
    for workload in named(sorted(names), args.quick):
        case = make_case(workload, case_seed(workload))
        np.savez(case_path(args.workdir, workload), reference=reference_sequence(workload, case),
                 **case)

    common = ["--workdir", args.workdir, "--workloads", args.workloads, "--cells", args.cells] + (
        ["--quick"] if args.quick else [])
    notes = []
    models = extras.needed_models(chosen) | (
        {w.name for w in workloads if w.stream} if "fastgru" in peers else set())
    if models:
        status = run_subprocess(["--save-models", ",".join(sorted(models))] + common, 1, 600)
        if status != 0:
            notes.append(f"saving the .keras / .fgru models failed ({status})")
    results = run_peers(peers, threads, args, common, notes)
    extra_results = extras.run_all(chosen, threads, args.workdir, args.quick, args.timeout,
                                   notes, args.rounds)

    out = args.out or (os.path.join(args.workdir, "BENCHMARKS.quick.md") if args.quick
                       else os.path.join(REPO_ROOT, "BENCHMARKS.md"))
    command = "python -m tools.bench " + " ".join(shlex.quote(a) for a in sys.argv[1:])
    page = report.render(results, extra_results, workloads, threads, command.strip(), notes,
                         quick=args.quick, repo_root=REPO_ROOT, rounds=args.rounds)
    report.write(out, page)
    print(report.render_summary(results, workloads, threads))
    print(f"wrote {out}")


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--quick", action="store_true",
                        help="3 repetitions, 200 stream calls, a quarter of the timesteps, "
                             "short extras (debugging only; writes into the work folder "
                             "unless --out)")
    parser.add_argument("--only", help=f"comma-separated peers ({','.join(PEER_NAMES)})")
    parser.add_argument("--workloads", default=",".join(WORKLOADS),
                        help="comma-separated workloads (default: all)")
    parser.add_argument("--cells", default="gru,lstm",
                        help="the layers run on every workload: gru, lstm or both (default)")
    parser.add_argument("--threads", default="1,2", help="thread counts (default: 1,2)")
    parser.add_argument("--rounds", type=int,
                        help="times every (peer, thread count) worker runs, in alternating "
                             "order; each figure is its fastest round (default: 2, 1 with "
                             "--quick)")
    parser.add_argument("--out", help="report path (default: BENCHMARKS.md at the repo root; "
                                      "only its generated part is replaced)")
    parser.add_argument("--workdir", help="folder for cases and results (default: a new temp)")
    parser.add_argument("--timeout", type=int, default=3600,
                        help="seconds allowed to one worker process")
    parser.add_argument("--extras", default="all",
                        help="the other measurements, after the peers, each in its own "
                             f"process: all (default), none, or some of {','.join(extras.EXTRAS)}")
    parser.add_argument("--worker", choices=PEER_NAMES, help=argparse.SUPPRESS)
    parser.add_argument("--measure", choices=extras.MEASURES, help=argparse.SUPPRESS)
    parser.add_argument("--arg", help=argparse.SUPPRESS)
    parser.add_argument("--save-models", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.rounds is None:
        args.rounds = 1 if args.quick else 2
    if args.rounds < 1:
        parser.error("--rounds must be at least 1")
    if args.worker:
        run_worker(args.worker, int(args.threads),
                   selected(args.workloads.split(","), args.quick, args.cells.split(",")),
                   args.workdir, args.quick)
    elif args.measure:
        extras.run_measure(args.measure, int(args.threads), args.workdir, args.arg, args.quick)
    elif args.save_models:
        save_models(named(args.save_models.split(","), args.quick), args.workdir)
    else:
        run_driver(args)


if __name__ == "__main__":
    main()
