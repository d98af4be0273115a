"""Threads where the machine is not quiet: a fork after runs in the parent, the default thread
count (affinity mask, cgroup quota, variable), a Ctrl-C that cancels only the main thread's
run, and a team worker that stalls (others take its work)."""
import hashlib
import multiprocessing
import os
import select
import shutil
import signal
import subprocess
import sys
import threading
import time

import numpy as np
import pytest

from fastgru import _core
from fastgru.format import pack_model
from fastgru.model import Model
from model_cases import SpecBuilder

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
TESTS = os.path.dirname(os.path.abspath(__file__))
fork_only = pytest.mark.skipif(not hasattr(os, "fork"), reason="needs fork")


def wide_model():
    """A batch split GRU, then a Dense big enough for rows on several OpenMP threads."""
    s = SpecBuilder("wide")
    x = s.input("x", (None, 32))
    return s.spec([s.dense("out", s.gru("gru", x, 256), 256)])


def units_model():
    """A GRU whose units split on a team at batch 1 (8 blocks of 16)."""
    s = SpecBuilder("units")
    x = s.input("x", (None, 64))
    return s.spec([s.gru("gru", x, 128, return_sequences=True)])


# what forked Pool workers run: set before the fork, inherited by the children
_forked = {}


def _predict(key):
    model, x = _forked[key]
    return model.predict(x).tobytes()


def _stream(key):
    model, xs = _forked[key]
    stream = model.stream(1)
    return b"".join(stream.step(x).tobytes() for x in xs)


def _pool_map(fn, keys):
    with multiprocessing.get_context("fork").Pool(2) as pool:
        return pool.map_async(fn, keys).get(timeout=120)


@fork_only
def test_fork_pool_after_a_batched_predict_gives_the_parent_bytes():
    model = Model(pack_model(wide_model()), threads=2)
    x = np.random.default_rng(0).normal(size=(64, 10, 32)).astype(np.float32)
    want = model.predict(x).tobytes()
    _forked["wide"] = (model, x)
    assert _pool_map(_predict, ["wide"] * 4) == [want] * 4


@fork_only
def test_fork_pool_after_a_units_split_stream_gives_the_parent_bytes():
    model = Model(pack_model(units_model()), threads=2)
    xs = list(np.random.default_rng(1).normal(size=(20, 1, 64)).astype(np.float32))
    _forked["units"] = (model, xs)
    want = _stream("units")
    assert _pool_map(_stream, ["units"] * 4) == [want] * 4


@fork_only
def test_fork_from_a_worker_thread_gives_the_parent_bytes():
    wide = Model(pack_model(wide_model()), threads=2)
    units = Model(pack_model(units_model()), threads=2)
    x = np.random.default_rng(2).normal(size=(64, 10, 32)).astype(np.float32)
    xu = np.random.default_rng(3).normal(size=(1, 30, 64)).astype(np.float32)
    want = hashlib.sha256(wide.predict(x).tobytes() + units.predict(xu).tobytes()).hexdigest()
    got = []

    def fork_here():
        r, w = os.pipe()
        pid = os.fork()
        if pid == 0:
            try:
                digest = hashlib.sha256(wide.predict(x).tobytes() + units.predict(xu).tobytes())
                os.write(w, digest.hexdigest().encode())
            finally:
                os._exit(0)
        os.close(w)
        ready, _, _ = select.select([r], [], [], 120)
        got.append(os.read(r, 100).decode() if ready else "timed out")
        if not ready:
            os.kill(pid, signal.SIGKILL)
        os.waitpid(pid, 0)
        os.close(r)

    t = threading.Thread(target=fork_here)
    t.start()
    t.join()
    assert got == [want]


def _default_threads_in(env_changes, prefix=()):
    env = {k: v for k, v in os.environ.items() if k != "FASTGRU_NUM_THREADS"}
    env.update(env_changes)
    code = ("from fastgru import _core; print(_core.default_threads()); "
            "print(_core.default_threads_reason())")
    out = subprocess.run([*prefix, sys.executable, "-c", code], env=env, capture_output=True,
                         text=True, cwd=ROOT, timeout=120)
    assert out.returncode == 0, out.stderr
    n, reason = out.stdout.splitlines()
    return int(n), reason


@pytest.mark.skipif(shutil.which("taskset") is None, reason="needs taskset")
def test_taskset_one_cpu_gives_one_default_thread():
    n, reason = _default_threads_in({}, ("taskset", "-c", "0"))
    assert n == 1 and "affinity mask: 1 CPUs" in reason, reason


def test_the_variable_overrides_the_default_and_says_so():
    assert _default_threads_in({"FASTGRU_NUM_THREADS": "3"}) == (3, "FASTGRU_NUM_THREADS=3")


def _fake_cgroup(root, proc_cgroup, files):
    (root / "proc" / "self").mkdir(parents=True)
    (root / "proc" / "self" / "cgroup").write_text(proc_cgroup)
    for path, text in files.items():
        f = root / "sys" / "fs" / "cgroup" / path
        f.parent.mkdir(parents=True, exist_ok=True)
        f.write_text(text)
    return str(root)


@pytest.mark.parametrize("proc_cgroup, files, cpus", [
    # v2: the process's own cgroup, an ancestor tighter, none at all, a container's view
    ("0::/a/b\n", {"a/b/cpu.max": "150000 100000\n", "a/cpu.max": "max 100000\n"}, 1.5),
    ("0::/a/b\n", {"a/b/cpu.max": "max 100000\n", "a/cpu.max": "50000 100000\n"}, 0.5),
    ("0::/a\n", {"a/cpu.max": "max 100000\n"}, 0.0),
    ("0::/docker/0123abcd\n", {"cpu.max": "200000 100000\n"}, 2.0),
    # v1: cpu,cpuacct mount, quota -1 (none) in the cgroup, one at the root; a cpu-only mount
    ("5:memory:/x\n4:cpu,cpuacct:/user.slice\n",
     {"cpu,cpuacct/user.slice/cpu.cfs_quota_us": "-1\n",
      "cpu,cpuacct/user.slice/cpu.cfs_period_us": "100000\n",
      "cpu,cpuacct/cpu.cfs_quota_us": "250000\n",
      "cpu,cpuacct/cpu.cfs_period_us": "100000\n"}, 2.5),
    ("3:cpu:/job\n",
     {"cpu/job/cpu.cfs_quota_us": "50000\n", "cpu/job/cpu.cfs_period_us": "50000\n"}, 1.0),
    # v1 memory only, and malformed files: no quota
    ("5:memory:/x\n", {"memory/x/cpu.cfs_quota_us": "100000\n"}, 0.0),
    ("0::/a\n", {"a/cpu.max": "lots\n"}, 0.0),
    ("garbage without colons\n", {}, 0.0),
])
def test_cgroup_quota_is_read_from_v1_and_v2_files(tmp_path, proc_cgroup, files, cpus):
    assert _core.cgroup_cpu_quota(_fake_cgroup(tmp_path, proc_cgroup, files)) == cpus


def test_no_cgroup_files_means_no_quota(tmp_path):
    assert _core.cgroup_cpu_quota(str(tmp_path)) == 0.0


CANCEL_ONE = """
import signal, sys, threading, time, numpy as np
signal.signal(signal.SIGINT, signal.default_int_handler)
sys.path.insert(0, {tests!r})
from fastgru.format import pack_model
from fastgru.model import Model
from test_concurrency import long_model
model = Model(pack_model(long_model()), threads=1)
other = np.random.default_rng(1).normal(size=(2, 30000, 64)).astype(np.float32)
want = model.predict(other).tobytes()
results = []
others = [threading.Thread(target=lambda: results.append(model.predict(other).tobytes() == want))
          for _ in range(2)]
for t in others:
    t.start()
print("ready", flush=True)
try:
    model.predict(np.ones((8, 40000, 64), np.float32))
    print("finished", flush=True)
except KeyboardInterrupt:
    print("interrupted", sum(t.is_alive() for t in others), flush=True)
for t in others:
    t.join()
print("others", results, flush=True)
"""


@pytest.mark.skipif(sys.platform == "win32", reason="SIGINT")
def test_ctrl_c_cancels_the_main_threads_run_only():
    p = subprocess.Popen([sys.executable, "-c", CANCEL_ONE.format(tests=TESTS)],
                         stdout=subprocess.PIPE, text=True, cwd=ROOT)
    assert p.stdout.readline().strip() == "ready"
    time.sleep(0.3)
    p.send_signal(signal.SIGINT)
    out, _ = p.communicate(timeout=300)
    lines = out.splitlines()
    assert p.returncode == 0 and lines[0].startswith("interrupted"), out
    assert int(lines[0].split()[1]) > 0, "the other runs ended before Ctrl-C: nothing was tested"
    assert lines[1] == "others [True, True]", out


@pytest.mark.parametrize("in_piece", [False, True], ids=["before_steps", "in_pieces"])
@pytest.mark.parametrize("batch", [1, 16])
def test_a_stalled_worker_gives_the_same_bytes_in_about_the_one_thread_time(batch, in_piece):
    """A worker that sleeps before each step leaves its pieces to the caller; one that sleeps
    inside each piece it takes (as one descheduled mid-piece) holds up one step, then the
    caller ends the job for the workers and runs alone for a while."""
    image = pack_model(units_model())
    one, two = Model(image, threads=1), Model(image, threads=2)
    x = np.random.default_rng(4).normal(size=(batch, 100, 64)).astype(np.float32)
    want = one.predict(x).tobytes()
    t_one = min(_timed(one.predict, x) for _ in range(3))
    stall_s = 0.003
    _core._set_worker_stall(int(stall_s * 1e6), in_piece)
    try:
        t_two = min(_timed(two.predict, x) for _ in range(3))
        assert two.predict(x).tobytes() == want
    finally:
        _core._set_worker_stall(0, in_piece)
    # waiting for the stalled worker at each of 100 steps would take 0.3 s
    assert t_two < 3 * t_one + 0.05, (t_one, t_two)


def _timed(fn, x):
    start = time.perf_counter()
    fn(x)
    return time.perf_counter() - start


def test_info_names_isa_backends_and_thread_count():
    info = _core.info()
    assert info["isa"] == _core.isa_active()
    assert info["default_threads"] == _core.default_threads()
    assert info["default_threads_reason"] == _core.default_threads_reason()
    assert info["thread_backends"][0].startswith("fastgru team")
    assert any(b.startswith("OpenMP") for b in info["thread_backends"]) == _core.have_openmp()


def test_cli_info_prints_the_same():
    out = subprocess.run([sys.executable, "-m", "fastgru", "info"], capture_output=True,
                         text=True, cwd=ROOT, timeout=120)
    assert out.returncode == 0, out.stderr
    info = _core.info()
    assert f"isa: {info['isa']}" in out.stdout
    assert f"default threads: {info['default_threads']} ({info['default_threads_reason']})" \
        in out.stdout, out.stdout
