"""The exceptions fastgru raises. Both are ValueErrors, so existing `except ValueError` code works."""


class FastGRUError(ValueError):
    """Something is wrong with an argument, a file or an input; the message names what and where."""


class FastGRUFileNotFoundError(FastGRUError, FileNotFoundError):
    """A model file does not exist (also catchable as FileNotFoundError)."""
