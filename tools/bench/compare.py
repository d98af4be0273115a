"""fastgru against another fastgru: this checkout's figures as ratios to another checkout's (an
earlier commit built in place), so that a change can be checked for regressions on a shared,
noisy machine without the peers.

    python -m tools.bench.compare OTHER_TREE [--rounds 5] [--threads 1 2] [--workloads ...]

OTHER_TREE is a checkout of fastgru with its extension built in place (`python setup.py
build_ext --inplace`). Each (tree, workload, threads) runs in a fresh process, the two trees
taking turns round by round; each figure is a tree's fastest round. Sequence workloads time a
`fastgru.GRU(return_sequences=True)` call; streams time `model.stream(1).step(x, out=)` on the
workload saved as a .keras file by Keras (so Keras must import here).
"""
import argparse
import json
import os
import subprocess
import sys
import tempfile

from .workloads import WORKLOADS, make_case, median_seconds

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))


def worker(tree, workload, threads, workdir):
    """Runs in the child: the median time of one call (one step for streams), in seconds, of
    the benchmark's own fastgru peer (peers.py) built from `tree`."""
    sys.path.insert(0, tree)
    from .peers import FastGruPeer

    wl = WORKLOADS[workload]
    case = make_case(wl, seed=0)
    peer = FastGruPeer(workdir)
    peer.version()
    peer.set_threads(threads)
    if not wl.stream:
        return median_seconds(peer.sequence_variants(wl, case)["GRU layer"], repeats=7,
                              warmup=2)
    prepare, step = peer.stream_variants(wl, case)["stream.step(out=)"]()
    xs = [prepare(case["x"][:, t % wl.steps]) for t in range(1000)]

    def call():
        for x_t in xs:
            step(x_t)
    return median_seconds(call, repeats=7, warmup=2) / len(xs)


def save_stream_models(names, workdir):
    import keras
    for name in names:
        wl = WORKLOADS[name]
        if not wl.stream:
            continue
        case = make_case(wl, seed=0)
        model = keras.Sequential([keras.Input((None, wl.input_dim)),
                                  keras.layers.GRU(wl.units, return_sequences=True)])
        model.layers[0].set_weights([case["kernel"], case["recurrent_kernel"], case["bias"]])
        model.save(os.path.join(workdir, f"{name}.keras"))


def run_child(tree, workload, threads, workdir):
    code = (f"import json, sys; sys.path.insert(0, {ROOT!r}); from tools.bench.compare import "
            f"worker; print(json.dumps(worker({tree!r}, {workload!r}, {threads}, {workdir!r})))")
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                          cwd=workdir)
    if done.returncode != 0:
        raise SystemExit(f"{tree} {workload} x{threads} failed:\n{done.stderr[-2000:]}")
    return json.loads(done.stdout.strip().splitlines()[-1])


def main(argv=None):
    ap = argparse.ArgumentParser(prog="python -m tools.bench.compare", description=__doc__,
                                 formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("other", help="another fastgru checkout, built in place")
    ap.add_argument("--rounds", type=int, default=5, help="processes per tree and row")
    ap.add_argument("--threads", type=int, nargs="+", default=[1, 2], help="thread counts")
    ap.add_argument("--workloads", nargs="+", default=list(WORKLOADS), help="workload names")
    args = ap.parse_args(argv)
    trees = {"this": ROOT, "other": os.path.abspath(args.other)}
    with tempfile.TemporaryDirectory() as workdir:
        save_stream_models(args.workloads, workdir)
        print("| workload | threads | this | other | this / other |\n|---|---|---|---|---|")
        for name in args.workloads:
            for threads in args.threads:
                best = {}
                for r in range(args.rounds):
                    order = list(trees) if r % 2 == 0 else list(reversed(trees))
                    for label in order:
                        t = run_child(trees[label], name, threads, workdir)
                        best[label] = min(best.get(label, t), t)
                unit, scale = ("µs", 1e6) if WORKLOADS[name].stream else ("ms", 1e3)
                print(f"| {name} | {threads} | {best['this'] * scale:.2f} {unit} | "
                      f"{best['other'] * scale:.2f} {unit} | {best['this'] / best['other']:.3f} |",
                      flush=True)


if __name__ == "__main__":
    main()
