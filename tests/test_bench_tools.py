"""The benchmark report's own logic (tools/bench_peers.py, tools/bench_extras_report.py): how
rounds of worker results merge into one figure, and that every missed target gets its gap and
its recorded analysis. The timings themselves are never asserted here."""
import os
import sys

import pytest

TOOLS = os.path.join(os.path.dirname(os.path.dirname(os.path.abspath(__file__))), "tools")
sys.path.insert(0, TOOLS)

bench_peers = pytest.importorskip("bench_peers")
bench_extras_report = pytest.importorskip("bench_extras_report")
from bench_peers_workloads import WORKLOADS  # noqa: E402
from bench_target_gaps import GAPS  # noqa: E402


def worker_result(peer, threads, sgemm, rows, notes=()):
    return {"peer": peer, "threads": threads, "versions": {peer: "1"}, "notes": list(notes),
            "sgemm_gflops": sgemm,
            "rows": [{"workload": w, "variant": v, "seconds": s, "max_abs_err": 1e-7,
                      "verified": ok} for w, v, s, ok in rows]}


def test_a_row_keeps_its_fastest_verified_round_and_lists_every_round():
    first = [worker_result("torch", 2, 180.0, [("S1", "nn.GRU", 2e-5, True),
                                                ("S1", "nn.GRUCell", 3e-5, True),
                                                ("L1", "nn.GRU", 4e-3, False)],
                           notes=["L2: skipped"])]
    second = [worker_result("torch", 2, 200.0, [("S1", "nn.GRU", 1e-5, True),
                                                 ("S1", "nn.GRUCell", 1e-6, False),
                                                 ("L1", "nn.GRU", 5e-3, False)],
                            notes=["L2: skipped", "T2: failed"])]
    (merged,) = bench_peers.merge_rounds([first, second])
    rows = {(r["workload"], r["variant"]): r for r in merged["rows"]}
    assert rows["S1", "nn.GRU"]["seconds"] == 1e-5
    assert rows["S1", "nn.GRU"]["round_seconds"] == [2e-5, 1e-5]
    # a faster round with a wrong output never counts
    assert rows["S1", "nn.GRUCell"]["seconds"] == 3e-5
    assert rows["S1", "nn.GRUCell"]["verified"]
    # no round verified: the last round's row stays, still marked wrong
    assert rows["L1", "nn.GRU"]["seconds"] == 5e-3 and not rows["L1", "nn.GRU"]["verified"]
    assert merged["notes"] == ["L2: skipped", "T2: failed"]
    assert merged["sgemm_gflops"] == 190.0


def test_workers_of_different_peers_and_thread_counts_stay_apart():
    rounds = [[worker_result("numpy", 1, 100.0, [("S1", "step", 2e-5, True)]),
               worker_result("numpy", 2, 200.0, [("S1", "step", 3e-5, True)])],
              [worker_result("numpy", 2, 200.0, [("S1", "step", 2.5e-5, True)]),
               worker_result("numpy", 1, 100.0, [("S1", "step", 2.2e-5, True)])]]
    merged = {(r["peer"], r["threads"]): r for r in bench_peers.merge_rounds(rounds)}
    assert merged["numpy", 1]["rows"][0]["seconds"] == 2e-5
    assert merged["numpy", 2]["rows"][0]["seconds"] == 2.5e-5


def test_every_recorded_gap_belongs_to_a_target_of_the_table():
    targets = bench_extras_report.target_rows([], [], list(WORKLOADS.values()))
    keys = {t.key for t in targets if t.key is not None}
    assert set(GAPS) <= keys, set(GAPS) - keys
    for entry in GAPS.values():
        assert entry["limit"] and entry["tried"]


def c_stream_extras(seconds):
    return [{"measure": "c_stream", "threads": 1, "rows": [
        {"workload": "S1", "precision": "float32", "seconds": seconds, "isa": "avx512",
         "runs": 7, "steps": 20000}]}]


def test_a_missed_target_gets_its_gap_and_its_analysis():
    lines = bench_extras_report.render_targets([], c_stream_extras(0.69e-6),
                                               list(WORKLOADS.values()))
    text = "\n".join(lines)
    row = "| C stream S1 (fastgru_stream_bench), 1 thread(s) | ≤ 0.60 µs | 0.69 µs | **no** |"
    assert row in text
    section = text.split("### Targets missed in this run")[1]
    assert "0.09 µs over, 15.0% more time" in section
    assert GAPS["c_stream", "S1", 1, "float32"]["limit"] in section
    assert GAPS["c_stream", "S1", 1, "float32"]["tried"] in section


def test_met_targets_get_no_gap_section():
    lines = bench_extras_report.render_targets([], c_stream_extras(0.55e-6),
                                               list(WORKLOADS.values()))
    assert "| C stream S1 (fastgru_stream_bench), 1 thread(s) | ≤ 0.60 µs | 0.55 µs | yes |" \
        in lines
    assert not any("Targets missed" in line for line in lines)


bench_extras = pytest.importorskip("bench_extras")


def extra_result(measure, threads, rows, arg=None, notes=()):
    return {"measure": measure, "threads": threads, "arg": arg, "rows": rows,
            "notes": list(notes)}


def test_extras_keep_each_time_at_its_fastest_round_and_the_largest_error():
    rounds = [extra_result("py_stream", 2, [
                  {"workload": "S1", "precision": "float32", "seconds": 9e-7, "max_abs_err": 1e-7},
                  {"workload": "S2", "precision": "float32", "seconds": 6e-6,
                   "max_abs_err": 2e-7}]),
              extra_result("threshold", 2, [
                  {"sweep": "a", "batch": 1, "seconds_1": 2e-6, "seconds_n": 3e-6}]),
              extra_result("py_stream", 2, [
                  {"workload": "S2", "precision": "float32", "seconds": 5e-6,
                   "max_abs_err": 1e-7},
                  {"workload": "S1", "precision": "float32", "seconds": 1e-6, "max_abs_err": 3e-7}],
                  notes=["S2 bf16: skipped"]),
              extra_result("threshold", 2, [
                  {"sweep": "a", "batch": 1, "seconds_1": 2.5e-6, "seconds_n": 2e-6}])]
    merged = {r["measure"]: r for r in bench_extras.merge_rounds(rounds)}
    rows = {row["workload"]: row for row in merged["py_stream"]["rows"]}
    assert (rows["S1"]["seconds"], rows["S1"]["max_abs_err"]) == (9e-7, 3e-7)
    assert (rows["S2"]["seconds"], rows["S2"]["max_abs_err"]) == (5e-6, 2e-7)
    assert merged["py_stream"]["notes"] == ["S2 bf16: skipped"]
    # each configuration's own fastest time, 1 thread and N threads alike
    assert merged["threshold"]["rows"] == [{"sweep": "a", "batch": 1, "seconds_1": 2e-6,
                                            "seconds_n": 2e-6}]


def test_extras_of_other_thread_counts_or_arguments_stay_apart():
    rounds = [extra_result("memory", 1, [{"steps": 200, "peak_rss": 5}], arg=200),
              extra_result("memory", 1, [{"steps": 800, "peak_rss": 6}], arg=800),
              extra_result("c_stream", 1, [{"workload": "S1", "seconds": 7e-7}]),
              extra_result("c_stream", 2, [{"workload": "S1", "seconds": 6e-7}])]
    assert len(bench_extras.merge_rounds(rounds)) == 4

