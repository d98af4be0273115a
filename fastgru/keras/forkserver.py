"""Where reader children (``isolate.py``) come from: a small server process, started once per
process by fork+exec, that forks one child per request.

Forking this process itself is unsafe once it has other threads (numpy's BLAS pool, thread
pools, JAX): the child gets copies of locks those threads held at that instant. With h5py
imported here, its at-fork handler deadlocked against ``concurrent.futures``' shutdown lock.
A fresh interpreter per child is safe but slow (~250 ms of imports). The server is a fresh
interpreter that stays single-threaded (its BLAS is limited to one thread) with the readers
and h5py imported once, so each fork it makes is safe and a child starts in a few ms.

A request is a fixed-size message on a stream socket pair (SOCK_SEQPACKET would keep message
bounds, but macOS lacks it): the entry name and three descriptors (the child's request and
reply pipes, and a status pipe). For each, the server forks a nanny that forks
the child, writes the child's pid to the status pipe, waits for it and writes its exit status
(minus the signal number when a signal killed it). The server ends when this process closes
its end of the socket (at exit). The child's side of the exchange with ``isolate.Child`` is
``run_child`` at the end.
"""
from __future__ import annotations

import atexit
import gc
import importlib
import io
import json
import os
import select
import signal
import socket
import struct
import subprocess
import sys
import threading
import time

from ..errors import FastGRUError

_BOOT = ("import sys, json; sys.path[:] = json.loads(sys.argv[1]); "
         "from fastgru.keras.forkserver import serve; serve(int(sys.argv[2]))")
# imported by the server once, so that children start with them
_PRELOAD = ("numpy", "h5py", "fastgru.keras.h5walk", "fastgru.keras.archive")
_STATUS = struct.Struct("<q")
_REQUEST_BYTES = 256   # an entry name, padded with NULs
OK, ERROR = b"0", b"E"   # the first byte of a reply

_lock = threading.Lock()
_server = None   # (this process's pid, socket, Popen)


def _start_server():
    ours, theirs = socket.socketpair(socket.AF_UNIX, socket.SOCK_STREAM)
    env = {**os.environ, "OPENBLAS_NUM_THREADS": "1", "OMP_NUM_THREADS": "1",
           "MKL_NUM_THREADS": "1"}
    try:
        process = subprocess.Popen(
            [sys.executable, "-c", _BOOT, json.dumps(sys.path), str(theirs.fileno())],
            pass_fds=(theirs.fileno(),), stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL,
            env=env)
    finally:
        theirs.close()
    return os.getpid(), ours, process


@atexit.register
def _stop_server() -> None:
    """At exit: close this process's end (the server then ends) and reap the server."""
    global _server
    if _server is not None and _server[0] == os.getpid():
        _server[1].close()
        try:
            _server[2].wait(timeout=5)
        except subprocess.TimeoutExpired:
            _server[2].kill()
    _server = None


def _send(entry: str, fds) -> None:
    """Send one request, starting the server first if this process has none (or it died)."""
    global _server
    with _lock:
        for attempt in (0, 1):
            if _server is None or _server[0] != os.getpid() or _server[2].poll() is not None:
                _server = _start_server()
            message = entry.encode().ljust(_REQUEST_BYTES, b"\0")[:_REQUEST_BYTES]
            try:
                sent = socket.send_fds(_server[1], [message], fds)
                _server[1].sendall(message[sent:])
                return
            except OSError:
                if attempt:
                    raise
                _server = None


class ServedChild:
    """A child the server forked, with the part of ``subprocess.Popen``'s interface
    ``isolate.Child`` uses; ``start`` returns None where the server did not answer in time."""

    def __init__(self, status_fd, pid):
        self._status, self.pid, self._code = status_fd, pid, None

    @classmethod
    def start(cls, entry: str, requests: int, replies: int, deadline: float):
        status_read, status_write = os.pipe()
        try:
            _send(entry, [requests, replies, status_write])
        except BaseException:
            os.close(status_read)
            raise
        finally:
            os.close(status_write)
        pid = _read_status(status_read, deadline)
        if pid is None:
            os.close(status_read)
            return None
        return cls(status_read, pid)

    def wait(self) -> int:
        """The exit status; minus the signal number for a child killed by a signal."""
        if self._code is None:
            code = _read_status(self._status, float("inf"))
            os.close(self._status)
            self._code = 1 if code is None else code   # a nanny gone without a word: failed
        return self._code

    def kill(self) -> None:
        # once the nanny has written the exit status, the child is reaped and its pid free
        if self._code is None and not wait_ready(self._status, select.POLLIN, 0.0):
            os.kill(self.pid, signal.SIGKILL)


ENDED = object()


def wait_ready(fd, events, deadline) -> bool:
    """Whether ``fd`` is ready, waiting until the deadline at most (poll: select() fails on
    descriptors past 1023)."""
    poller = select.poll()
    poller.register(fd, events)
    left = max(deadline - time.monotonic(), 0.0)
    return bool(poller.poll(None if left == float("inf") else left * 1000))


def read_exact(fd, n, deadline):
    """``n`` bytes (a bytearray), ``ENDED`` at an early EOF, or None past the deadline."""
    data = bytearray(n)
    view, got = memoryview(data), 0
    while got < n:
        if not wait_ready(fd, select.POLLIN, deadline):
            return None
        count = os.readv(fd, [view[got:got + (1 << 24)]])
        if not count:
            return ENDED
        got += count
    return data


def _read_status(fd, deadline):
    """One status word from the nanny, or None on EOF or past the deadline."""
    data = read_exact(fd, _STATUS.size, deadline)
    return _STATUS.unpack(data)[0] if isinstance(data, bytearray) else None


def serve(sock_fd: int) -> None:
    """The server's loop (in the server process)."""
    for name in _PRELOAD:
        try:
            importlib.import_module(name)
        except ImportError:   # h5py missing: each child then says so itself
            pass
    sock = socket.socket(fileno=sock_fd)
    signal.signal(signal.SIGCHLD, signal.SIG_IGN)   # nannies are reaped by the system
    signal.signal(signal.SIGINT, signal.SIG_IGN)    # Ctrl-C is for the parent to handle
    while True:
        try:
            message, fds, _, _ = socket.recv_fds(sock, _REQUEST_BYTES, 3)
            while message and len(message) < _REQUEST_BYTES:   # the rest, without descriptors
                more = sock.recv(_REQUEST_BYTES - len(message))
                message = message + more if more else b""
        except OSError:
            break
        if not message:   # the parent has closed its end
            break
        if len(fds) == 3 and os.fork() == 0:
            _nanny(sock, message.rstrip(b"\0").decode(), *fds)
        for fd in fds:
            os.close(fd)
    os._exit(0)


def _nanny(sock, entry, requests, replies, status) -> None:
    """In a fork of the server: fork the child, report its pid, then its exit status."""
    try:
        sock.close()
        signal.signal(signal.SIGCHLD, signal.SIG_DFL)
        pid = os.fork()
        if pid == 0:
            try:
                os.close(status)
                run_child(entry, requests, replies)
            finally:
                os._exit(0)
        os.close(requests)
        os.close(replies)
        os.write(status, _STATUS.pack(pid))
        _, code = os.waitpid(pid, 0)
        code = -os.WTERMSIG(code) if os.WIFSIGNALED(code) else os.WEXITSTATUS(code)
        os.write(status, _STATUS.pack(code))
    finally:
        os._exit(0)


def _framed(write) -> tuple:
    """(frame, what ``write(out)`` returned): the frame is status, length and what ``write``
    wrote; a failure is reported, for the parent to decide."""
    out = io.BytesIO()
    try:
        returned = write(out)
        status, data = OK, out.getvalue()
    except BaseException as e:
        kind = "FastGRUError" if isinstance(e, FastGRUError) else "OSError"
        message = str(e) if kind == "FastGRUError" else f"{type(e).__name__}: {e}"
        status, data = ERROR, json.dumps({"type": kind, "message": message}).encode()
        returned = None
    return status + struct.pack("<Q", len(data)) + data, returned


def _message(incoming):
    """The next length-prefixed message from the parent; None once it has closed its end."""
    size = incoming.read(8)
    return incoming.read(struct.unpack("<Q", size)[0]) if len(size) == 8 else None


def run_child(entry: str, requests, replies) -> None:
    """The child process: read the argument, run ``entry``, then serve requests with the
    function it returned until the parent closes its end."""
    # A short life: the cycle collector would only touch (and copy on write) the server's
    # objects.
    gc.disable()
    if "faulthandler" in sys.modules:   # the parent reports a crash; no traceback dump here
        sys.modules["faulthandler"].disable()
    module, name = entry.split(":")
    function = getattr(importlib.import_module(module), name)
    with os.fdopen(int(replies), "wb") as pipe, os.fdopen(int(requests), "rb") as incoming:
        argument = _message(incoming)
        if argument is None:
            return
        frame, answer = _framed(lambda out: function(argument, out))
        pipe.write(frame)
        pipe.flush()
        while callable(answer):
            request = _message(incoming)
            if request is None:
                break
            pipe.write(_framed(lambda out: answer(request, out))[0])
            pipe.flush()
