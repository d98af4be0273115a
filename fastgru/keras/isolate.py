"""Run a reader in a forked child process, so that a file which crashes a C library (HDF5
segfaults on some corrupt files) becomes a ``FastGRUError`` instead of killing the caller.

The child inherits what it needs through ``fork`` (no arguments cross), writes its result as
bytes to a pipe and exits with ``os._exit``; a ``FastGRUError`` it raises is re-raised here with
the same message. Settings: ``FASTGRU_HDF5_ISOLATION=0`` runs readers in-process (so does a
platform without ``fork``); ``FASTGRU_HDF5_TIMEOUT`` (seconds, default 120) bounds the child.
"""
from __future__ import annotations

import gc
import io
import json
import os
import select
import signal
import sys
import time
import warnings

from ..errors import FastGRUError

DEFAULT_TIMEOUT = 120.0
_OK, _ERROR = b"0", b"E"
# JAX warns on every fork that its threads make fork unsafe; our child never touches JAX.
warnings.filterwarnings("ignore", message=r"os\.fork\(\) was called", category=RuntimeWarning,
                        module=__name__)


def enabled() -> bool:
    return hasattr(os, "fork") and os.environ.get("FASTGRU_HDF5_ISOLATION", "1") != "0"


def _timeout() -> float:
    text = os.environ.get("FASTGRU_HDF5_TIMEOUT", "")
    try:
        seconds = float(text) if text else DEFAULT_TIMEOUT
    except ValueError:
        seconds = float("nan")
    if not 0 < seconds <= 1e6:
        raise FastGRUError(f"FASTGRU_HDF5_TIMEOUT={text!r} is not a number of seconds "
                           f"in (0, 1e6]")
    return seconds


class Child:
    """``produce(out)`` running in a forked child, writing its result to the binary file
    ``out``; ``result`` waits for those bytes, ``close`` stops the child if still running.
    Started early, the child works while the caller does other things."""

    def __init__(self, produce):
        self._deadline = time.monotonic() + _timeout()
        self._fd, write_end = os.pipe()
        # With other threads alive, the child only runs this thread's code: it needs no lock
        # they may hold but the HDF5 library's, and this process never loads HDF5 in this mode.
        self._pid = os.fork()
        if self._pid == 0:   # the child: never returns
            os.close(self._fd)
            _child(produce, write_end)
        os.close(write_end)

    def result(self, where: str) -> bytes:
        """The bytes ``produce`` wrote; ``where`` names the file in error messages."""
        try:
            payload = _read_all(self._fd, self._deadline)
            if payload is None:
                self.close()
                raise FastGRUError(f"{where}: reading the HDF5 data took over {_timeout():g} s; "
                                   f"the reader was stopped (FASTGRU_HDF5_TIMEOUT sets the limit)")
            _, status = os.waitpid(self._pid, 0)
            self._pid = None
        finally:
            self.close()            # interrupted (Ctrl-C): leave no child behind
        if os.WIFSIGNALED(status):
            sig = os.WTERMSIG(status)
            raise FastGRUError(f"{where}: the HDF5 library crashed reading the file (signal {sig}, "
                               f"{signal.Signals(sig).name}): the file is damaged")
        if payload[:1] == _ERROR:
            error = json.loads(payload[1:])
            raise (FastGRUError if error["type"] == "FastGRUError" else OSError)(error["message"])
        if payload[:1] != _OK or os.WEXITSTATUS(status) != 0:
            raise FastGRUError(f"{where}: the HDF5 reader process failed (exit status "
                               f"{os.WEXITSTATUS(status)})")
        return payload[1:]

    def close(self) -> None:
        if self._pid is not None:
            os.kill(self._pid, signal.SIGKILL)
            os.waitpid(self._pid, 0)
            self._pid = None
        if self._fd is not None:
            os.close(self._fd)
            self._fd = None


def _read_all(fd, deadline):
    """Everything until EOF, or None past the deadline."""
    chunks = []
    poller = select.poll()   # not select(): it fails on descriptors past 1023
    poller.register(fd, select.POLLIN)
    while True:
        left = deadline - time.monotonic()
        if left <= 0 or not poller.poll(left * 1000):
            return None
        chunk = os.read(fd, 1 << 20)
        if not chunk:
            return b"".join(chunks)
        chunks.append(chunk)


def _child(produce, fd):
    try:
        # A short life: the cycle collector would only touch (and copy-on-write) the parent's
        # objects, ~5 ms of a cold load.
        gc.disable()
        if "faulthandler" in sys.modules:   # the parent reports a crash; no traceback dump here
            sys.modules["faulthandler"].disable()
        out = io.BytesIO()
        try:
            produce(out)
            data = _OK + out.getvalue()
        except BaseException as e:   # report every failure; the parent decides
            kind = "FastGRUError" if isinstance(e, FastGRUError) else "OSError"
            message = str(e) if kind == "FastGRUError" else f"{type(e).__name__}: {e}"
            data = _ERROR + json.dumps({"type": kind, "message": message}).encode()
        with os.fdopen(fd, "wb") as pipe:
            pipe.write(data)
    finally:
        os._exit(0)
