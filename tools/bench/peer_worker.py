"""One worker process: one peer at one thread count over every workload (checked, then timed),
written to <workdir>/result_<peer>_<threads>.json; and the merge of the workers' rounds."""
import json
import os
import statistics

import numpy as np

from .peers import PeerUnavailable, make_peer
from .workloads import (as_float64, describe, load_case, max_error, median_seconds,
                        sgemm_peak_gflops, time_sequence, timing_plan)

TOLERANCE = 1e-4


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


def result_path(workdir, peer, threads):
    return os.path.join(workdir, f"result_{peer}_{threads}.json")


def run_worker(peer_name, threads, workloads, workdir, quick):
    plan = timing_plan(quick)
    peer = make_peer(peer_name, workdir)
    result = {"peer": peer_name, "threads": threads, "versions": {}, "notes": [], "rows": []}
    peer.notes = result["notes"]  # where a peer says which of its variants it left out
    try:
        result["versions"] = peer.version()
        peer.set_threads(threads)
    except PeerUnavailable as exc:
        result["notes"].append(f"skipped: {exc}")
        workloads = []
    if workloads:
        result["sgemm_gflops"] = sgemm_peak_gflops(plan["sgemm_repeats"])
    for workload in [None] + workloads:  # saved after each: a later crash keeps what was measured
        if workload:
            run_workload(peer, workload, plan, workdir, result)
        with open(result_path(workdir, peer_name, threads), "w") as f:
            json.dump(result, f, indent=1)


def run_workload(peer, workload, plan, workdir, result):
    case, reference = load_case(workdir, workload)
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
        print(f"  {result['peer']:12s} t={result['threads']} {workload.name} {variant:22s} "
              f"max abs err {error:.2e} {'ok' if verified else 'WRONG'}  "
              f"{seconds * 1e3:10.4f} ms/call", flush=True)
        result["rows"].append({"workload": workload.name, "variant": variant,
                               "seconds": seconds, "max_abs_err": error, "verified": verified})


def merge_rounds(rounds):
    """One result per (peer, thread count) from every round's worker results. Each (workload,
    way it ran) row keeps its fastest verified round (the machine is shared, so a slow round
    measures a neighbour's load, not the engine), or its last round when none verified, and
    lists every round's time; the sgemm peak is the median of the rounds'."""
    merged = {}
    for result in (result for results in rounds for result in results):
        into = merged.setdefault((result["peer"], result["threads"]),
                                 {**result, "rows": [], "notes": [], "sgemm_all": []})
        into["versions"].update(result["versions"])
        into["notes"] += [n for n in result["notes"] if n not in into["notes"]]
        if "sgemm_gflops" in result:
            into["sgemm_all"].append(result["sgemm_gflops"])
        into["rows"] += result["rows"]
    for result in merged.values():
        sgemm = result.pop("sgemm_all")
        if sgemm:
            result["sgemm_gflops"] = statistics.median(sgemm)
        by_way = {}
        for row in result["rows"]:
            by_way.setdefault((row["workload"], row["variant"]), []).append(row)
        result["rows"] = [_fastest_round(rows) for rows in by_way.values()]
    return list(merged.values())


def _fastest_round(rows):
    verified = [row for row in rows if row["verified"]]
    best = min(verified, key=lambda row: row["seconds"]) if verified else rows[-1]
    return {**best, "round_seconds": [row["seconds"] for row in rows]}


def sgemm_by_threads(results):
    """Median over the worker processes of numpy's 2048^3 float32 matmul rate, per thread count."""
    by_threads = {}
    for result in results:
        if "sgemm_gflops" in result:
            by_threads.setdefault(result["threads"], []).append(result["sgemm_gflops"])
    return {n: statistics.median(values) for n, values in by_threads.items()}


def best_rows(results, workload, threads):
    """{peer: its fastest verified row} for one workload and thread count."""
    best = {}
    for result in results:
        rows = [r for r in result["rows"] if r["workload"] == workload.name and r["verified"]]
        if rows and result["threads"] == threads:
            best[result["peer"]] = min(rows, key=lambda r: r["seconds"])
    return best
