"""fastgru: fast CPU inference for Keras GRU models (a C kernel with SIMD and OpenMP).

Importing fastgru loads only numpy and the compiled core; h5py and file readers load lazily.
"""
__version__ = "0.1.0"   # the one place: pyproject.toml reads it from here

import logging

from .errors import FastGRUError, FastGRUFileNotFoundError
from .custom_gru import CustomGRU
from .layers import GRU, LSTM, Bidirectional, SimpleRNN
from .loader import convert, load

# The library's messages go to the "fastgru" logger; the application decides where they show.
logging.getLogger(__name__).addHandler(logging.NullHandler())

__all__ = ["__version__", "FastGRUError", "FastGRUFileNotFoundError", "GRU", "LSTM",
           "SimpleRNN", "Bidirectional", "CustomGRU",
           "load", "convert"]
