"""Run a reader in a forked child process, so that a file which crashes a C library (HDF5
segfaults on some corrupt files) becomes a ``FastGRUError`` instead of killing the caller.

The child inherits what it needs through ``fork`` (no arguments cross), writes its result as
bytes to a pipe (then, if asked to, serves further requests from a second pipe) and exits with
``os._exit``; a ``FastGRUError`` it raises is re-raised here with the same message. Settings:
``FASTGRU_HDF5_ISOLATION=0`` runs readers in-process (so does a platform without ``fork``);
``FASTGRU_HDF5_TIMEOUT`` (seconds, default 120) bounds the child's whole life.
"""
from __future__ import annotations

import gc
import io
import json
import os
import select
import signal
import struct
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
    Started early, the child works while the caller does other things. With ``answer``, the
    child then stays to serve requests: ``ask(request)`` returns what ``answer(request, out)``
    wrote (the child keeps what ``produce`` opened, e.g. an HDF5 file)."""

    def __init__(self, produce, answer=None):
        self._deadline = time.monotonic() + _timeout()
        self._fd, write_end = os.pipe()
        requests, self._requests = os.pipe()
        self._serving = answer is not None
        # With other threads alive, the child only runs this thread's code: it needs no lock
        # they may hold but the HDF5 library's, and this process never loads HDF5 in this mode.
        self._pid = os.fork()
        if self._pid == 0:   # the child: never returns
            os.close(self._fd)
            os.close(self._requests)
            _child(produce, answer, requests, write_end)
        os.close(write_end)
        os.close(requests)

    def result(self, where: str) -> bytes:
        """The bytes ``produce`` wrote; ``where`` names the file in error messages."""
        try:
            return self._reply(where)
        finally:
            if not self._serving:
                self.close()

    def ask(self, request: bytes, where: str) -> bytes:
        """The bytes ``answer(request, out)`` wrote in the child."""
        if self._pid is None:
            raise FastGRUError(f"{where}: the HDF5 reader process has already ended")
        try:
            os.write(self._requests, struct.pack("<Q", len(request)) + request)
        except BrokenPipeError:
            pass   # the child is gone: reading its reply says how
        return self._reply(where)

    def _reply(self, where: str) -> bytes:
        try:
            head = payload = _read_exact(self._fd, 9, self._deadline)
            if isinstance(head, bytearray):
                payload = _read_exact(self._fd, struct.unpack("<Q", head[1:])[0], self._deadline)
        except BaseException:
            self.close()            # interrupted (Ctrl-C): leave no child behind
            raise
        if payload is None:
            self.close()
            raise FastGRUError(f"{where}: reading the HDF5 data took over {_timeout():g} s; "
                               f"the reader was stopped (FASTGRU_HDF5_TIMEOUT sets the limit)")
        if payload is _ENDED:
            raise self._ended(where)
        if head[:1] == _ERROR:
            error = json.loads(bytes(payload))
            raise (FastGRUError if error["type"] == "FastGRUError" else OSError)(error["message"])
        return bytes(payload)

    def _ended(self, where: str) -> FastGRUError:
        """The error for a child that ended without a reply."""
        _, status = os.waitpid(self._pid, 0)
        self._pid = None
        self.close()
        if os.WIFSIGNALED(status):
            sig = os.WTERMSIG(status)
            return FastGRUError(f"{where}: the HDF5 library crashed reading the file (signal "
                                f"{sig}, {signal.Signals(sig).name}): the file is damaged")
        return FastGRUError(f"{where}: the HDF5 reader process failed (exit status "
                            f"{os.WEXITSTATUS(status)})")

    def close(self) -> None:
        if self._pid is not None:
            os.kill(self._pid, signal.SIGKILL)
            os.waitpid(self._pid, 0)
            self._pid = None
        for name in ("_fd", "_requests"):
            if getattr(self, name) is not None:
                os.close(getattr(self, name))
                setattr(self, name, None)


_ENDED = object()


def _read_exact(fd, n, deadline):
    """``n`` bytes (a bytearray), ``_ENDED`` at an early EOF, or None past the deadline."""
    data = bytearray(n)
    view, got = memoryview(data), 0
    poller = select.poll()   # not select(): it fails on descriptors past 1023
    poller.register(fd, select.POLLIN)
    while got < n:
        left = deadline - time.monotonic()
        if left <= 0 or not poller.poll(left * 1000):
            return None
        count = os.readv(fd, [view[got:got + (1 << 24)]])
        if not count:
            return _ENDED
        got += count
    return data


def _framed(write) -> bytes:
    """What ``write(out)`` wrote, framed: status, length, bytes; a failure is reported, for
    the parent to decide."""
    out = io.BytesIO()
    try:
        write(out)
        status, data = _OK, out.getvalue()
    except BaseException as e:
        kind = "FastGRUError" if isinstance(e, FastGRUError) else "OSError"
        message = str(e) if kind == "FastGRUError" else f"{type(e).__name__}: {e}"
        status, data = _ERROR, json.dumps({"type": kind, "message": message}).encode()
    return status + struct.pack("<Q", len(data)) + data


def _child(produce, answer, requests, fd):
    try:
        # A short life: the cycle collector would only touch (and copy-on-write) the parent's
        # objects, ~5 ms of a cold load.
        gc.disable()
        if "faulthandler" in sys.modules:   # the parent reports a crash; no traceback dump here
            sys.modules["faulthandler"].disable()
        with os.fdopen(fd, "wb") as pipe, os.fdopen(requests, "rb") as incoming:
            pipe.write(_framed(produce))
            pipe.flush()
            while answer is not None:
                size = incoming.read(8)
                if len(size) < 8:    # the parent closed: done
                    break
                request = incoming.read(struct.unpack("<Q", size)[0])
                pipe.write(_framed(lambda out: answer(request, out)))
                pipe.flush()
    finally:
        os._exit(0)
