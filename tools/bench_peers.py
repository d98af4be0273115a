"""Benchmark fastgru against other CPU GRU engines and write BENCHMARKS.md.

    /opt/benchenv/bin/python tools/bench_peers.py                 # full run -> BENCHMARKS.md
    /opt/benchenv/bin/python tools/bench_peers.py --quick --only torch,numpy --workloads S1,L1
    /opt/benchenv/bin/python tools/bench_peers.py --quick --only fastgru --extras c_stream,memory

The peers come from tools/requirements-bench.txt (each optional: a missing one is skipped with a
note); fastgru is imported from this repository, built in place
(`python setup.py build_ext --inplace`).

Each (peer, thread count) runs in its own process, with every threading knob set before the
engine starts (OMP/MKL/OpenBLAS variables, then the engine's own setting). In that process:
numpy's float32 2048^3 matmul rate (the "sgemm peak"), then every workload: first the output is
checked against the float64 numpy reference (max abs error <= 1e-4, else the figure is not
used), then timed: the median of >= 7 repetitions after warm-up; streams are timed over
>= 1000 calls per repetition. A peer that offers several ways to run (Keras predict / eager /
tf.function, ...) is timed in each, and its best verified one counts. Every worker runs
--rounds times (2 by default), the rounds in alternating order, and each figure is the fastest
round's: the machines are shared, and a round that caught a busy neighbour measures it, not the
engine.

After the peers, the rest of issue 7's targets are measured by tools/bench_extras.py, again one
fresh process per measurement (C streaming, the Python call overhead, cold start, memory,
the small-problem threshold, bf16; `--extras` picks some or none), and BENCHMARKS.md gets,
after its summary, a table of every issue-7 target: wanted, measured, met or not
(tools/bench_extras_report.py).
"""
import argparse
import json
import os
import shlex
import statistics
import subprocess
import sys
import tempfile

import numpy as np

TOOLS_DIR = os.path.dirname(os.path.abspath(__file__))
REPO_ROOT = os.path.dirname(TOOLS_DIR)
sys.path.insert(0, TOOLS_DIR)

from bench_peers_runners import PEER_NAMES, PeerUnavailable, make_peer  # noqa: E402
from bench_peers_workloads import (WORKLOADS, as_float64, case_path, describe,  # noqa: E402
                                   load_case, make_case, max_error, median_seconds,
                                   quick_variant, reference_sequence, sgemm_peak_gflops,
                                   thread_env, time_sequence, timing_plan)
import bench_extras  # noqa: E402
import bench_extras_report  # noqa: E402
import bench_peers_report  # noqa: E402

TOLERANCE = 1e-4


def selected_workloads(names, quick):
    workloads = []
    for name in names:
        if name not in WORKLOADS:
            sys.exit(f"unknown workload {name!r}; expected some of {', '.join(WORKLOADS)}")
        workloads.append(quick_variant(WORKLOADS[name]) if quick else WORKLOADS[name])
    return workloads


# ---------------------------------------------------------------------------------------------
# Worker: one peer, one thread count, every workload.

def check_stream(open_stream, case, reference):
    """Open a fresh stream, feed the case's steps; returns (max error, native inputs, step)."""
    to_native, step = open_stream()
    inputs = [to_native(np.ascontiguousarray(case["x"][:, t])) for t in range(case["x"].shape[1])]
    outputs = np.stack([as_float64(step(x_t)).reshape(-1) for x_t in inputs])
    return max_error(outputs, reference[0]), inputs, step


def time_stream(open_stream, case, reference, plan):
    """Check the first steps, time calls carrying the state on, then check a reopened stream
    (so a reset that does not clear the state shows up too)."""
    first_error, inputs, step = check_stream(open_stream, case, reference)
    calls = [inputs[i % len(inputs)] for i in range(plan["stream_calls"])]

    def run_calls():
        for x_t in calls:
            step(x_t)
    seconds = median_seconds(run_calls, plan["repeats"], plan["warmup"])
    second_error, _, _ = check_stream(open_stream, case, reference)
    return max(first_error, second_error), seconds / len(calls)


def run_worker(args):
    plan = timing_plan(args.quick)
    workloads = selected_workloads(args.workloads.split(","), args.quick)
    peer = make_peer(args.worker, REPO_ROOT, args.workdir)
    result = {"peer": args.worker, "threads": args.threads, "versions": {}, "notes": [],
              "rows": []}
    peer.notes = result["notes"]  # where a peer says which of its variants it left out
    try:
        result["versions"] = peer.version()
        peer.set_threads(args.threads)
    except PeerUnavailable as exc:
        result["notes"].append(f"skipped: {exc}")
        workloads = []
    if workloads:
        result["sgemm_gflops"] = sgemm_peak_gflops(plan["sgemm_repeats"])
    for workload in workloads:
        run_workload(peer, workload, plan, args, result)
        save_result(args, result)  # after each workload: a later crash keeps what was measured
    save_result(args, result)


def run_workload(peer, workload, plan, args, result):
    case, reference = load_case(args.workdir, workload)
    try:
        variants = (peer.stream_variants if workload.stream
                    else peer.sequence_variants)(workload, case)
    except PeerUnavailable as exc:
        result["notes"].append(f"{workload.name}: skipped: {exc}")
        return
    except Exception as exc:  # a peer that breaks must not stop the others
        result["notes"].append(f"{workload.name}: setup failed: {describe(exc)}")
        return
    for variant, fn in variants.items():
        try:
            error, seconds = (time_stream(fn, case, reference, plan) if workload.stream
                              else time_sequence(fn, reference, plan))
        except Exception as exc:
            result["notes"].append(f"{workload.name} {variant}: failed: {describe(exc)}")
            continue
        verified = error <= TOLERANCE
        print(f"  {args.worker:12s} t={args.threads} {workload.name} {variant:22s} "
              f"max abs err {error:.2e} {'ok' if verified else 'WRONG'}  "
              f"{seconds * 1e3:10.4f} ms/call", flush=True)
        result["rows"].append({"workload": workload.name, "variant": variant,
                               "seconds": seconds, "max_abs_err": error, "verified": verified})


def result_path(workdir, peer, threads):
    return os.path.join(workdir, f"result_{peer}_{threads}.json")


def save_result(args, result):
    with open(result_path(args.workdir, args.worker, args.threads), "w") as f:
        json.dump(result, f, indent=1)


def save_models(args):
    """Save the named workloads as .keras models (fastgru streams run on loaded models) and
    convert each to .fgru (what the C streaming bench and the extras load)."""
    os.environ.setdefault("KERAS_BACKEND", "tensorflow")
    try:
        import keras
    except ImportError as exc:
        sys.exit(f"cannot save the models for fastgru.load: {exc}")
    paths = []
    for workload in selected_workloads(args.save_models.split(","), args.quick):
        with np.load(case_path(args.workdir, workload)) as data:
            model = keras.Sequential([
                keras.Input((None, workload.input_dim)),
                keras.layers.GRU(workload.units, return_sequences=True, reset_after=True)])
            model.set_weights([data["kernel"], data["recurrent_kernel"], data["bias"]])
        paths.append(os.path.join(args.workdir, workload.name))
        model.save(paths[-1] + ".keras")
    sys.path.insert(0, REPO_ROOT)
    import fastgru  # after every .keras is saved: a fastgru that fails to import spoils no more
    for path in paths:
        fastgru.convert(path + ".keras", path + ".fgru")


# ---------------------------------------------------------------------------------------------
# Driver: prepare the cases, start one worker per (thread count, peer), then the extras' own
# processes, write the report.

def run_subprocess(argv, threads, timeout):
    try:
        return subprocess.run([sys.executable, os.path.abspath(__file__)] + argv,
                              env=thread_env(threads), timeout=timeout).returncode
    except subprocess.TimeoutExpired:
        return f"timed out after {timeout} s"


def merge_rounds(rounds):
    """One result per (peer, thread count) from every round's worker results. Each (workload,
    way it ran) row keeps its fastest verified round (the machine is shared, so a slow round
    measures a neighbour's load, not the engine), or its last round when none verified, and
    lists every round's time; the sgemm peak is the median of the rounds'."""
    merged = {}
    for results in rounds:
        for result in results:
            key = (result["peer"], result["threads"])
            into = merged.setdefault(key, {**result, "rows": [], "notes": [], "sgemm_all": []})
            into["versions"].update(result["versions"])
            into["notes"] += [n for n in result["notes"] if n not in into["notes"]]
            if "sgemm_gflops" in result:
                into["sgemm_all"].append(result["sgemm_gflops"])
            into["rows"].append(result["rows"])
    for result in merged.values():
        if result["sgemm_all"]:
            result["sgemm_gflops"] = statistics.median(result.pop("sgemm_all"))
        else:
            result.pop("sgemm_all")
        by_way = {}
        for rows in result["rows"]:
            for row in rows:
                by_way.setdefault((row["workload"], row["variant"]), []).append(row)
        result["rows"] = [_fastest_round(rows) for rows in by_way.values()]
    return list(merged.values())


def _fastest_round(rows):
    verified = [row for row in rows if row["verified"]]
    best = min(verified, key=lambda row: row["seconds"]) if verified else rows[-1]
    return {**best, "round_seconds": [row["seconds"] for row in rows]}


def run_driver(args):
    workloads = selected_workloads(args.workloads.split(","), args.quick)
    peers = args.only.split(",") if args.only else PEER_NAMES
    for peer in peers:
        if peer not in PEER_NAMES:
            sys.exit(f"unknown peer {peer!r}; expected some of {', '.join(PEER_NAMES)}")
    threads = [int(n) for n in args.threads.split(",")]
    extras = bench_extras.selected(args.extras)
    workdir = args.workdir or tempfile.mkdtemp(prefix="bench_peers_")
    os.makedirs(workdir, exist_ok=True)
    print(f"work files in {workdir}", flush=True)
    names = {w.name for w in workloads} | bench_extras.needed_workloads(extras)
    for workload in selected_workloads([n for n in WORKLOADS if n in names], args.quick):
        case = make_case(workload, seed=list(WORKLOADS).index(workload.name) + 1)  # stable per name
        np.savez(case_path(workdir, workload), reference=reference_sequence(case), **case)

    common = ["--workdir", workdir, "--workloads", args.workloads] + (["--quick"] if args.quick
                                                                      else [])
    driver_notes = []
    models = bench_extras.needed_models(extras) | (
        {w.name for w in workloads if w.stream} if "fastgru" in peers else set())
    if models:
        status = run_subprocess(["--save-models", ",".join(n for n in WORKLOADS if n in models)]
                                + common, 1, 600)
        if status != 0:
            driver_notes.append(f"saving the .keras / .fgru models failed ({status})")

    rounds = []
    order = [(n, peer) for n in threads for peer in peers]
    for round_no in range(args.rounds):
        rounds.append([])
        # every other round walks the workers backwards, so a drift of the shared machine's
        # speed over the run does not always fall on the same engines
        for n, peer in (order if round_no % 2 == 0 else order[::-1]):
            print(f"== round {round_no + 1}/{args.rounds}: {peer}, {n} thread(s)", flush=True)
            path = result_path(workdir, peer, n)
            if os.path.exists(path):
                os.remove(path)  # left by an earlier worker in the same work folder
            status = run_subprocess(["--worker", peer, "--threads", str(n)] + common, n,
                                    args.timeout)
            if status != 0:
                driver_notes.append(f"round {round_no + 1}: {peer}, {n} thread(s): worker "
                                    f"failed ({status}); the workloads it finished before are "
                                    f"kept")
            if not os.path.exists(path):
                continue
            with open(path) as f:
                rounds[-1].append(json.load(f))
            os.replace(path, path.replace(".json", f"_round{round_no + 1}.json"))
            for note in rounds[-1][-1]["notes"]:
                print(f"  note: {note}", flush=True)
    results = merge_rounds(rounds)

    extra_results = bench_extras.run_all(extras, threads, workdir, args.quick, args.timeout,
                                         driver_notes, args.rounds)

    out = args.out or (os.path.join(workdir, "BENCHMARKS.quick.md") if args.quick
                       else os.path.join(REPO_ROOT, "BENCHMARKS.md"))
    command = "/opt/benchenv/bin/python tools/bench_peers.py " + " ".join(
        shlex.quote(a) for a in sys.argv[1:])
    targets = bench_extras_report.render_targets(results, extra_results, workloads)
    text = bench_peers_report.render(
        results, workloads, threads, command.strip(),
        driver_notes + bench_extras_report.extra_notes(extra_results), quick=args.quick,
        tolerance=TOLERANCE, repo_root=REPO_ROOT, rounds=args.rounds, targets=targets,
        extra_sections=bench_extras_report.render_sections(results, extra_results, workloads))
    with open(out, "w") as f:
        f.write(text)
    print(bench_peers_report.render_summary(results, workloads, threads))
    print("\n".join(targets))
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
    parser.add_argument("--threads", default="1,2", help="thread counts (default: 1,2)")
    parser.add_argument("--rounds", type=int,
                        help="times every (peer, thread count) worker runs, in alternating "
                             "order; each figure is its fastest round (default: 2, 1 with "
                             "--quick)")
    parser.add_argument("--out", help="report path (default: BENCHMARKS.md at the repo root)")
    parser.add_argument("--workdir", help="folder for cases and results (default: a new temp)")
    parser.add_argument("--timeout", type=int, default=3600,
                        help="seconds allowed to one worker process")
    parser.add_argument("--extras", default="all",
                        help="issue 7's other measurements, after the peers, each in its own "
                             f"process: all (default), none, or some of "
                             f"{','.join(bench_extras.EXTRAS)}")
    parser.add_argument("--worker", choices=PEER_NAMES, help=argparse.SUPPRESS)
    parser.add_argument("--save-models", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.rounds is None:
        args.rounds = 1 if args.quick else 2
    if args.rounds < 1:
        parser.error("--rounds must be at least 1")
    if args.worker:
        args.threads = int(args.threads)
        run_worker(args)
    elif args.save_models:
        save_models(args)
    else:
        run_driver(args)


if __name__ == "__main__":
    main()
