"""The progress bar of ``Model.predict(verbose=...)``, on stderr as Keras draws it:
``12/40 [=======>....................] - 3s 250ms/batch``.

verbose=0 draws nothing, 1 draws always, "auto" only on a terminal and only once a run has
taken a few seconds (a short run stays silent, as a script's output should). Keras' 2 (one line
per epoch) has no epochs here, so it draws the finished line only.
"""
from __future__ import annotations

import sys
import time
from typing import Union

from .errors import FastGRUError

AUTO_AFTER_SECONDS = 2.0
WIDTH = 30


def check_verbose(verbose: Union[int, str]) -> Union[int, str]:
    if verbose == "auto" or (isinstance(verbose, int) and not isinstance(verbose, bool)
                             and verbose in (0, 1, 2)):
        return verbose
    raise FastGRUError(f"verbose must be 0, 1, 2 or 'auto' (as in Keras), got {verbose!r}")


class Progress:
    """Counts finished chunks of a predict call and draws the bar when `verbose` asks."""

    def __init__(self, total: int, verbose: Union[int, str], stream=None):
        self.total = max(total, 1)
        self.verbose = check_verbose(verbose)
        self.stream = stream if stream is not None else sys.stderr
        self.start = time.perf_counter()
        self.done = 0
        self.drawn = False

    def _wanted(self, elapsed: float) -> bool:
        if self.verbose == 1:
            return True
        if self.verbose == 2:
            return self.done == self.total
        if self.verbose == "auto":
            isatty = getattr(self.stream, "isatty", None)
            return bool(isatty and isatty()) and (self.drawn or elapsed >= AUTO_AFTER_SECONDS)
        return False

    def advance(self) -> None:
        self.done += 1
        elapsed = time.perf_counter() - self.start
        if not self._wanted(elapsed):
            return
        filled = WIDTH * self.done // self.total
        arrow = "=" * filled if self.done == self.total else "=" * max(filled - 1, 0) + ">"
        per = elapsed / self.done
        line = (f"{self.done}/{self.total} [{arrow:.<{WIDTH}}] - {elapsed:.0f}s "
                f"{per * 1000:.0f}ms/batch")
        end = "\n" if self.done == self.total else ""
        self.stream.write(("\r" if self.drawn else "") + line + end)
        self.stream.flush()
        self.drawn = True
