"""Run a reader in a child process, so that a file which crashes a C library (HDF5 segfaults
on some corrupt files) becomes a ``FastGRUError`` instead of killing the caller.

The child runs ``entry(argument, out)``, a function named as ``"module:function"``; what it
writes to the binary file ``out`` comes back as bytes through a pipe. If it returns a function,
the child stays to serve further requests with it (``answer(request, out)``), keeping what
``entry`` opened (e.g. an HDF5 file). A ``FastGRUError`` it raises is re-raised here with the
same message; nothing that crosses the pipes is unpickled.

The child is never a fork of this process (``forkserver.py`` says why and where it comes
from). Settings: ``FASTGRU_HDF5_ISOLATION=0`` runs readers in-process;
``FASTGRU_HDF5_TIMEOUT`` (seconds, default 120) bounds the child's whole life.
"""
from __future__ import annotations

import json
import os
import select
import signal
import struct
import time

from ..errors import FastGRUError
from . import forkserver

DEFAULT_TIMEOUT = 120.0
def enabled() -> bool:
    return os.name == "posix" and os.environ.get("FASTGRU_HDF5_ISOLATION", "1") != "0"


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
    """``entry(argument, out)`` running in a child process; ``result`` waits for what it
    wrote, ``close`` stops the child if still running. Started early, the child works while
    the caller does other things. With ``serve``, the child then stays: ``ask(request)``
    returns what the function ``entry`` returned wrote for that request."""

    def __init__(self, entry: str, argument: bytes = b"", serve: bool = False):
        self._deadline = time.monotonic() + _timeout()
        self._serving = serve
        self._process = None
        self._fd, write_end = os.pipe()
        requests, self._requests = os.pipe()
        try:
            self._process = forkserver.ServedChild.start(entry, requests, write_end,
                                                         self._deadline)
        except BaseException:
            self.close()
            raise
        finally:
            os.close(write_end)
            os.close(requests)
        if self._process is not None:   # else no child started in time: the reply times out
            self._send(argument)

    def result(self, where: str) -> bytes:
        """The bytes ``entry`` wrote; ``where`` names the file in error messages."""
        try:
            return self._reply(where)
        finally:
            if not self._serving:
                self.close()

    def ask(self, request: bytes, where: str) -> bytes:
        """The bytes the serving function wrote for ``request`` in the child."""
        if self._process is None:
            raise FastGRUError(f"{where}: the HDF5 reader process has already ended")
        self._send(request)
        return self._reply(where)

    def _send(self, message: bytes) -> None:
        try:
            sent = _write_all(self._requests, struct.pack("<Q", len(message)) + message,
                              self._deadline)
        except BrokenPipeError:
            return   # the child is gone: reading its reply says how
        if not sent:   # a child too slow to even take its input: the reply times out too
            self._deadline = 0.0

    def _reply(self, where: str) -> bytes:
        try:
            head = payload = forkserver.read_exact(self._fd, 9, self._deadline)
            if isinstance(head, bytearray):
                payload = forkserver.read_exact(self._fd, struct.unpack("<Q", head[1:])[0], self._deadline)
        except BaseException:
            self.close()            # interrupted (Ctrl-C): leave no child behind
            raise
        if payload is None:
            self.close()
            raise FastGRUError(f"{where}: reading the HDF5 data took over {_timeout():g} s; "
                               f"the reader was stopped (FASTGRU_HDF5_TIMEOUT sets the limit)")
        if payload is forkserver.ENDED:
            raise self._ended(where)
        if head[:1] == forkserver.ERROR:
            error = json.loads(bytes(payload))
            raise (FastGRUError if error["type"] == "FastGRUError" else OSError)(error["message"])
        return bytes(payload)

    def _ended(self, where: str) -> FastGRUError:
        """The error for a child that ended without a reply."""
        if self._process is None:
            self.close()
            return FastGRUError(f"{where}: the HDF5 reader process did not start")
        status = self._process.wait()
        self._process = None
        self.close()
        if status < 0:
            sig = -status
            return FastGRUError(f"{where}: the HDF5 library crashed reading the file (signal "
                                f"{sig}, {signal.Signals(sig).name}): the file is damaged")
        return FastGRUError(f"{where}: the HDF5 reader process failed (exit status {status})")

    def close(self) -> None:
        if self._process is not None:
            self._process.kill()
            self._process.wait()
            self._process = None
        for name in ("_fd", "_requests"):
            if getattr(self, name) is not None:
                os.close(getattr(self, name))
                setattr(self, name, None)


def _write_all(fd, data, deadline) -> bool:
    """Write ``data``; False if the reader did not take it all before the deadline."""
    view = memoryview(data)
    while view:
        if not forkserver.wait_ready(fd, select.POLLOUT, deadline):
            return False
        view = view[os.write(fd, view[:1 << 16]):]
    return True
