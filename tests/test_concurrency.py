"""One loaded model used from many threads at once: bitwise the serial results, per-object
state, the GIL released during compute, Ctrl-C honoured during a long predict."""
import os
import signal
import subprocess
import sys
import threading
import time
from concurrent.futures import ThreadPoolExecutor

import numpy as np
import pytest

from fastgru.format import pack_model
from fastgru.model import Model
from test_model_capi import causal_sequence_model
from test_model_exec import stateful_model

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
THREADS = 8
B, T, F, U = 3, 6, 4, 2


@pytest.fixture(scope="module")
def image():
    return pack_model(causal_sequence_model(F, U))


def test_eight_python_threads_give_the_serial_bytes(image):
    model = Model(image)
    xs = [np.random.default_rng(k).normal(size=(B, T, F)).astype(np.float32) for k in range(16)]
    serial = [model.predict(x).tobytes() for x in xs]
    with ThreadPoolExecutor(THREADS) as pool:
        for _ in range(3):
            got = list(pool.map(lambda x: model.predict(x).tobytes(), xs))
            assert got == serial


def test_streams_keep_their_own_state_across_threads(image):
    model = Model(image)
    xs = [np.random.default_rng(k).normal(size=(1, T, F)).astype(np.float32) for k in range(8)]

    def stream_bytes(x):
        s = model.stream(batch_size=1)
        return b"".join(s.step(x[:, t]).tobytes() for t in range(T))

    serial = [stream_bytes(x) for x in xs]
    with ThreadPoolExecutor(THREADS) as pool:
        assert list(pool.map(stream_bytes, xs)) == serial


def test_stateful_models_keep_state_per_object():
    image = pack_model(stateful_model())
    x = np.random.default_rng(1).normal(size=(2, 5, 4)).astype(np.float32)
    a, b = Model(image), Model(image)
    first = a.predict(x)
    second = a.predict(x)                          # carries a's state
    assert not np.array_equal(first, second)
    assert np.array_equal(b.predict(x), first)     # b starts from zero: a's state is a's


def test_eight_c_threads_give_the_serial_bytes(tmp_path, image, c_program):
    x = np.random.default_rng(0).normal(size=(B, T, F)).astype(np.float32)
    (tmp_path / "m.fgru").write_bytes(image)
    x.tofile(tmp_path / "x.f32")
    exe = c_program("test_threads")
    run = subprocess.run([str(exe), str(tmp_path / "m.fgru"), str(tmp_path / "x.f32"),
                          str(B), str(T), str(F), str(U)], capture_output=True, text=True,
                         timeout=120)
    assert run.returncode == 0 and run.stdout.strip() == "ok", run.stdout + run.stderr


def long_model():
    from model_cases import SpecBuilder
    s = SpecBuilder("long")
    x = s.input("x", (None, 64))
    return s.spec([s.gru("gru", x, 256)])


def test_gil_is_released_during_compute():
    model = Model(pack_model(long_model()), threads=1)
    x = np.ones((8, 3000, 64), np.float32)
    ticks = []
    done = threading.Event()

    def ticker():
        while not done.is_set():
            ticks.append(time.perf_counter())
            time.sleep(0.005)

    t = threading.Thread(target=ticker)
    start = time.perf_counter()
    t.start()
    model.predict(x)
    elapsed = time.perf_counter() - start
    done.set()
    t.join()
    assert elapsed > 0.1, "the run was too short to tell"
    # With the GIL held, the ticker could not run at all while predict computes.
    assert len(ticks) > elapsed / 0.005 / 4, (len(ticks), elapsed)


CTRL_C = """
import signal, sys, time, numpy as np
# a shell that starts the tests in the background leaves SIGINT ignored: be a normal program
signal.signal(signal.SIGINT, signal.default_int_handler)
sys.path.insert(0, {tests!r})
from fastgru.format import pack_model
from fastgru.model import Model
from test_concurrency import long_model
model = Model(pack_model(long_model()), threads=1)
x = np.ones((8, 40000, 64), np.float32)
small = np.ones((1, 3, 64), np.float32)
want = model.predict(small)
print("ready", flush=True)
start = time.perf_counter()
try:
    model.predict(x)
    print("finished", flush=True)
except KeyboardInterrupt:
    print("interrupted %.3f" % (time.perf_counter() - start), flush=True)
assert np.array_equal(model.predict(small), want)
print("usable", flush=True)
"""


@pytest.mark.skipif(sys.platform == "win32", reason="SIGINT")
def test_ctrl_c_interrupts_a_long_predict_and_leaves_the_model_usable():
    code = CTRL_C.format(tests=os.path.dirname(os.path.abspath(__file__)))
    p = subprocess.Popen([sys.executable, "-c", code], stdout=subprocess.PIPE, text=True,
                         cwd=ROOT)
    assert p.stdout.readline().strip() == "ready"
    time.sleep(0.5)
    sent = time.perf_counter()
    p.send_signal(signal.SIGINT)
    out, _ = p.communicate(timeout=60)
    waited = time.perf_counter() - sent
    assert p.returncode == 0 and out.split()[0] == "interrupted" and "usable" in out, out
    assert waited < 1.5, f"predict stopped {waited:.2f} s after Ctrl-C"
