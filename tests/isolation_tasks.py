"""Entries for isolate.Child in tests (the child imports them by name, on the test process's
import path): a crash, a hang, a failure, and an h5py walk of a file without deferring."""
import os
import signal
import time

from fastgru.keras import h5transfer, h5walk


def crash(argument, out):
    os.kill(os.getpid(), signal.SIGSEGV)


def sleep(argument, out):
    time.sleep(60)


def fail(argument, out):
    raise KeyError("boom")


def echo_twice(argument, out):
    """Write the argument, then serve each request with itself twice."""
    out.write(argument)
    return lambda request, out: out.write(request * 2)


def full_tree(argument, out):
    """The tree of the file named by the argument, with every readable dataset's data."""
    path = argument.decode()
    h5transfer.encode(h5walk.read_tree(path, os.path.basename(path)), out)


def parent_pid(argument, out):
    """The pid of the child's parent process."""
    out.write(str(os.getppid()).encode())
