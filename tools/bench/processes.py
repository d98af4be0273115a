"""The fresh processes a run is made of: each peer worker and each extra measurement runs as
`python -m tools.bench ...` from the repository root, with every threading knob set to its
thread count before the engine starts, and leaves its result in a JSON file."""
import json
import os
import subprocess
import sys

REPO_ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))


def thread_env(threads):
    """The environment of a worker process: every threading knob set to `threads`."""
    n = str(threads)
    return dict(os.environ, OMP_NUM_THREADS=n, MKL_NUM_THREADS=n, OPENBLAS_NUM_THREADS=n,
                TF_NUM_INTRAOP_THREADS=n, TF_NUM_INTEROP_THREADS=n, FASTGRU_NUM_THREADS=n,
                KERAS_BACKEND="tensorflow", TF_CPP_MIN_LOG_LEVEL="2")


def run_subprocess(argv, threads, timeout):
    """`python -m tools.bench ARGV` with every threading knob at `threads`; its exit status."""
    try:
        return subprocess.run([sys.executable, "-m", "tools.bench"] + argv, cwd=REPO_ROOT,
                              env=thread_env(threads), timeout=timeout).returncode
    except subprocess.TimeoutExpired:
        return f"timed out after {timeout} s"


def run_job(argv, threads, path, timeout, notes, what, round_no):
    """One process of round `round_no` that writes `path`; returns the result it left (kept
    as ..._round<N>.json), or None. A failure becomes a note; what it wrote before counts."""
    print(f"== round {round_no}: {what}", flush=True)
    if os.path.exists(path):
        os.remove(path)  # left by an earlier run in the same work folder
    status = run_subprocess(argv, threads, timeout)
    if status != 0:
        notes.append(f"round {round_no}: {what}: process failed ({status}); what it measured "
                     "before is kept")
    if not os.path.exists(path):
        return None
    with open(path) as f:
        result = json.load(f)
    os.replace(path, path.replace(".json", f"_round{round_no}.json"))
    for note in result["notes"]:
        print(f"  note: {note}", flush=True)
    return result
