"""HDF5 read by h5py (FASTGRU_HDF5_READER=h5py, or a file outside h5lite's subset) runs in a
child process started by fork+exec (fastgru/keras/isolate.py, h5walk.py, h5transfer.py): the
same models and the same errors as reading in-process, a crashing or hanging child becomes a
FastGRUError, the parent never imports h5py, and loads from many threads at once still work,
also in a process that uses h5py and thread pools itself."""
import faulthandler
import io
import os
import pickle
import struct
import subprocess
import sys
import threading
import time
from concurrent.futures import ThreadPoolExecutor

import numpy as np
import pytest

import fastgru
from fastgru.format import pack_model
from fastgru.keras import h5transfer, h5tree, isolate, read_model
from fixture_manifest import MANIFEST, paths

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
# every file format, models with nested / stacked / bidirectional weight groups
MODELS = ("bidi_state", "stacked_cells", "norms")
ENTRIES = [e for e in MANIFEST if os.path.basename(e["file"]).split(".")[0].split("_weights")[0]
           in MODELS]


@pytest.fixture(autouse=True)
def _h5py_reader(monkeypatch):
    """These tests are about the h5py child: keep fastgru's own reader (h5lite) out of them."""
    monkeypatch.setenv("FASTGRU_HDF5_READER", "h5py")


def image(entry):
    model, config = paths(entry)
    return pack_model(read_model(model, config=config))


@pytest.mark.parametrize("entry", ENTRIES, ids=[e["file"] for e in ENTRIES])
def test_child_reads_the_same_model_as_in_process(entry, monkeypatch):
    isolated = image(entry)
    monkeypatch.setenv("FASTGRU_HDF5_ISOLATION", "0")
    assert not isolate.enabled()
    assert image(entry) == isolated


def test_fresh_process_loads_and_predicts_without_importing_h5py():
    code = ("import sys, numpy as np, fastgru\n"
            "m = fastgru.load('fastgru/data/demo.keras')\n"
            "m.predict(np.zeros((1, 5, 3), np.float32))\n"
            "print('h5py' in sys.modules)")
    run = subprocess.run([sys.executable, "-c", code], cwd=ROOT, capture_output=True, text=True,
                         timeout=120)
    assert run.returncode == 0, run.stderr
    assert run.stdout.strip() == "False", run.stdout


def _error(path, **kwargs):
    with pytest.raises(fastgru.FastGRUError) as info:
        read_model(path, **kwargs)
    return str(info.value)


def test_errors_raised_in_the_child_keep_their_message(tmp_path, monkeypatch):
    truncated = tmp_path / "truncated.h5"
    with open(os.path.join(ROOT, "tests/fixtures/keras2/simple.h5"), "rb") as f:
        truncated.write_bytes(f.read()[:3000])
    weights_only = os.path.join(ROOT, "tests/fixtures/keras2/simple_weights.h5")
    cases = [(truncated, {}), (weights_only, {})]
    isolated = [_error(path, **kw) for path, kw in cases]
    monkeypatch.setenv("FASTGRU_HDF5_ISOLATION", "0")
    assert [_error(path, **kw) for path, kw in cases] == isolated
    assert "no architecture" in isolated[1]


def test_a_child_killed_by_a_signal_is_an_error_naming_the_file():
    with pytest.raises(fastgru.FastGRUError, match=r"model\.h5: the HDF5 library crashed .*"
                                                   r"signal 11.*damaged"):
        isolate.Child("isolation_tasks:crash").result("model.h5")


def test_children_are_not_forks_of_this_process():
    """They come from the fork server (a fresh interpreter), through a nanny per child, and
    the server is reused: two children, one server."""
    from fastgru.keras import forkserver

    parents = {int(isolate.Child("isolation_tasks:parent_pid").result("x.h5")) for _ in "ab"}
    assert os.getpid() not in parents and len(parents) == 2
    assert forkserver._server[0] == os.getpid() and forkserver._server[2].poll() is None


def test_a_serving_child_answers_each_request():
    child = isolate.Child("isolation_tasks:echo_twice", b"first", serve=True)
    try:
        assert child.result("x.h5") == b"first"
        assert child.ask(b"ab", "x.h5") == b"abab"
        big = bytes(range(256)) * 4096   # more than a pipe holds, both ways
        assert child.ask(big, "x.h5") == big * 2
    finally:
        child.close()


def test_a_child_that_runs_too_long_is_stopped(monkeypatch):
    monkeypatch.setenv("FASTGRU_HDF5_TIMEOUT", "0.5")
    start = time.monotonic()
    with pytest.raises(fastgru.FastGRUError, match=r"slow\.h5: .*over 0\.5 s.*FASTGRU_HDF5_TIMEOUT"):
        isolate.Child("isolation_tasks:sleep").result("slow.h5")
    assert time.monotonic() - start < 30
    monkeypatch.setenv("FASTGRU_HDF5_TIMEOUT", "soon")
    with pytest.raises(fastgru.FastGRUError, match="FASTGRU_HDF5_TIMEOUT=.soon. is not a number"):
        isolate.Child("isolation_tasks:echo_twice").result("x.h5")


def test_other_exceptions_in_the_child_come_back_as_oserror():
    with pytest.raises(OSError, match="KeyError: 'boom'"):
        isolate.Child("isolation_tasks:fail").result("x.h5")


def test_the_wire_format_refuses_pickled_arrays():
    buf = io.BytesIO()
    h5transfer.encode(h5tree.Group("/", h5tree.Attributes({"n": np.arange(3)}), {}), buf)
    assert h5transfer.decode(buf.getvalue()).attrs["n"].tolist() == [0, 1, 2]
    head = b'{"descr": "|O", "shape": [1]}'
    pickled = pickle.dumps([{"a": 1}])
    payload = buf.getvalue()
    payload = (payload[:payload.index(b'{"descr"') - 8] + struct.pack("<Q", len(head)) + head
               + struct.pack("<Q", len(pickled)) + pickled)
    with pytest.raises(OSError, match="never unpickled"):
        h5transfer.decode(payload)


@pytest.mark.parametrize("array", [np.arange(6, dtype="<f4").reshape(2, 3),
                                   np.array([b"ab", b"c"]), np.array(["x", "yz"]),
                                   np.array([1.5], dtype=">f8"), np.zeros((0, 4), "<i2"),
                                   np.array([(1, 2.0)], dtype=[("a", "<i4"), ("b", "<f4")]),
                                   np.frombuffer(b"\x01\x02\x03\x04", dtype="|V2")])
def test_the_wire_format_keeps_dtype_shape_and_bytes(array):
    buf = io.BytesIO()
    h5transfer.write_array(buf, array)
    buf.seek(0)
    got = h5transfer.read_array(buf)
    assert got.dtype == array.dtype and got.shape == array.shape
    assert got.tobytes() == array.tobytes() and got.flags.writeable


def test_a_truncated_array_is_an_os_error():
    buf = io.BytesIO()
    h5transfer.write_array(buf, np.arange(10.0))
    with pytest.raises(OSError, match="of an array's 80 bytes"):
        h5transfer.read_array(io.BytesIO(buf.getvalue()[:-5]))


_EIGHT_THREADS = """
import os, sys
from concurrent.futures import ThreadPoolExecutor
import numpy as np
import fastgru
path = os.path.join("fastgru", "data", "demo.keras")
x = np.random.default_rng(0).normal(size=(2, 7, 3)).astype(np.float32)
serial = fastgru.load(path).predict(x).tobytes()
with ThreadPoolExecutor(8) as pool:
    got = list(pool.map(lambda _: fastgru.load(path).predict(x).tobytes(), range(24)))
assert got == [serial] * 24
print("h5py" in sys.modules)
"""


def test_eight_threads_load_at_once():
    """In a fresh process, as fastgru runs in an application that has not imported h5py:
    it still has not after the loads."""
    run = subprocess.run([sys.executable, "-c", _EIGHT_THREADS], cwd=ROOT, capture_output=True,
                         text=True, timeout=300, env={**os.environ, "FASTGRU_HDF5_READER": "h5py"})
    assert run.returncode == 0, run.stderr
    assert run.stdout.strip() == "False", run.stdout


def test_datasets_are_read_only_after_their_size_is_checked(tmp_path):
    h5py = pytest.importorskip("h5py")
    path = tmp_path / "sizes.h5"
    with h5py.File(path, "w") as f:
        f.create_dataset("huge", shape=(2 ** 31, 2 ** 31), dtype="f4", chunks=(1, 1))
        f["small"] = np.arange(6, dtype=np.float32).reshape(2, 3)
        f["text"] = np.array([b"a", b"b"])
        f.create_group("optimizer_weights")["big"] = np.zeros(3)
    tree = h5transfer.decode(isolate.Child("isolation_tasks:full_tree", str(path).encode())
                             .result("sizes.h5"))
    assert tree["huge"].shape == (2 ** 31, 2 ** 31)
    with pytest.raises(OSError, match="was not read"):
        tree["huge"][()]
    with pytest.raises(OSError, match="was not read"):
        tree["text"][()]
    assert tree["small"][()].tolist() == [[0, 1, 2], [3, 4, 5]]
    assert "optimizer_weights" not in tree


def _h5py_garbage(h5py):
    """An in-memory HDF5 file kept alive by a reference cycle: the garbage collector frees it,
    taking h5py's global lock, in whichever thread it happens to run."""
    f = h5py.File(io.BytesIO(), "w")
    f["x"] = np.arange(4.0)
    cycle = [f, f["x"]]
    cycle.append(cycle)


def test_loads_from_a_thread_pool_in_a_process_using_h5py():
    """The deadlock a bare fork of this process had (issue 13): h5py imported and in use here,
    a thread pool starting new threads (its submit holds concurrent.futures' shutdown lock,
    which a fork's handlers take after h5py's lock), garbage collection of h5py objects in
    those threads, and h5py reader children started from the pool at once."""
    import gc

    h5py = pytest.importorskip("h5py")
    path = os.path.join(ROOT, "fastgru", "data", "demo.keras")
    x = np.random.default_rng(0).normal(size=(2, 7, 3)).astype(np.float32)
    serial = fastgru.load(path).predict(x).tobytes()
    threshold = gc.get_threshold()
    gc.set_threshold(50)   # collections (of h5py objects) in every thread, often

    def task(i):
        _h5py_garbage(h5py)
        return fastgru.load(path).predict(x).tobytes()

    def rounds():
        for _ in range(3):   # a fresh pool each round: its submits start new threads
            with ThreadPoolExecutor(8) as pool:
                results.extend(pool.map(task, range(16)))

    results = []
    try:
        # the rounds run in a daemon thread: a deadlocked submit would hold this one too
        runner = threading.Thread(target=rounds, daemon=True)
        runner.start()
        runner.join(timeout=240)
        if runner.is_alive():
            # a deadlocked pool never ends and would hold this process at exit: say where
            # every thread waits, then end the process
            faulthandler.dump_traceback(all_threads=True)
            sys.stderr.write("loads from the thread pool deadlocked\n")
            os._exit(1)
    finally:
        gc.set_threshold(*threshold)
    assert results == [serial] * 48
