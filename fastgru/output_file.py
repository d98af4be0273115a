"""Writing an output file all at once (``fastgru convert``, ``fastgru run -o``).

The bytes go to a fresh private file in the destination's folder (``tempfile.mkstemp``: a new
random name opened with O_EXCL, so a planted ``DST.tmp`` symlink is never followed and two
writers to one path never share a file), are flushed to disk, and only then renamed over the
destination. On any error the temporary file is removed and the destination is untouched.
"""
from __future__ import annotations

import contextlib
import os
import stat
import tempfile
from typing import BinaryIO, Iterator

from .errors import FastGRUError


def _final_mode(dst: str) -> int:
    """The permissions a plain ``open(dst, "wb")`` would leave: the existing file's, else
    0666 less the umask (mkstemp's own 0600 would hide a model from its other users)."""
    try:
        return stat.S_IMODE(os.stat(dst).st_mode)
    except OSError:
        umask = os.umask(0o022)
        os.umask(umask)
        return 0o666 & ~umask


def check_destination(dst: str) -> str:
    """The folder `dst` will be written in, after checking that `dst` can be written there
    (so that a command fails before its work, not after)."""
    if os.path.isdir(dst):
        raise FastGRUError(f"{dst}: is a folder; name the file to write")
    folder = os.path.dirname(os.path.abspath(dst))
    if not os.path.isdir(folder):
        problem = "is not a folder" if os.path.exists(folder) else "does not exist"
        raise FastGRUError(f"{dst}: the folder {folder!r} {problem}")
    if not os.access(folder, os.W_OK):
        raise FastGRUError(f"{dst}: the folder {folder!r} is not writable")
    return folder


@contextlib.contextmanager
def replaced_atomically(dst: str) -> Iterator[BinaryIO]:
    """A binary file to write; on a clean exit it becomes `dst` in one rename."""
    folder = check_destination(dst)
    try:
        fd, tmp = tempfile.mkstemp(prefix=f".{os.path.basename(dst)}.", suffix=".tmp",
                                   dir=folder)
    except OSError as exc:
        raise FastGRUError(f"{dst}: cannot create a file in the folder {folder!r} "
                           f"({exc.strerror or exc})") from None
    try:
        with os.fdopen(fd, "wb") as f:
            yield f
            f.flush()
            os.fsync(f.fileno())
        os.chmod(tmp, _final_mode(dst))
        os.replace(tmp, dst)
    except BaseException as exc:
        with contextlib.suppress(OSError):
            os.unlink(tmp)
        if isinstance(exc, OSError):
            raise FastGRUError(f"{dst}: cannot be written ({exc.strerror or exc})") from None
        raise
