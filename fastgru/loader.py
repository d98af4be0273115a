"""``fastgru.load`` and ``fastgru.convert``: file in, model image out.

Every source format becomes the same model image (the bytes of a ``.fgru`` file), so a model
read from a Keras file and one read from a converted file run the very same C code.
"""
from __future__ import annotations

import os
import stat
from typing import Any, Optional, Union

from . import arguments
from .errors import FastGRUError, FastGRUFileNotFoundError

PathLike = Union[str, bytes, "os.PathLike[str]", "os.PathLike[bytes]"]

_SUPPORTED_DTYPES = ("float32", "float16", "bfloat16")


def _is_image_file(path: str, magic: bytes) -> bool:
    try:
        # opened without blocking and checked before a read: a FIFO or a device would hang
        # the load or stream forever
        fd = os.open(path, os.O_RDONLY | getattr(os, "O_NONBLOCK", 0))
        try:
            if not stat.S_ISREG(os.fstat(fd).st_mode):
                raise FastGRUError(f"{path}: not a regular file (a folder, FIFO or device)")
            return os.read(fd, len(magic)) == magic
        finally:
            os.close(fd)
    except OSError as exc:
        raise FastGRUError(f"{path}: cannot be read ({exc.strerror})") from None


def _stored_dtype(image: bytes) -> str:
    from .format import read_metadata

    return (read_metadata(image).get("precision") or {}).get("dtype", "float32")


def _image_for(path: str, config: Any, custom_objects: Optional[dict],
               dtype: str = "float32") -> bytes:
    """The model image of `path`, weights stored as `dtype`. A .fgru file keeps the dtype it
    was converted with: asking it for another one is an error, not a silent re-rounding."""
    from . import format as image_format
    from .storage_precision import reduced_image

    if not os.path.exists(path):
        raise FastGRUFileNotFoundError(f"{path}: no such file")
    if _is_image_file(path, image_format.MAGIC):
        if config is not None:
            raise FastGRUError(f"{path}: a converted .fgru file carries its own config; "
                               f"do not pass config=")
        image = image_format.read_image_file(path)
        stored = _stored_dtype(image)
        if dtype not in ("float32", stored):
            raise FastGRUError(f"{path}: a converted file keeps the weight dtype it was "
                               f"written with ({stored}); convert the Keras model with "
                               f"dtype={dtype!r} instead")
        return image
    from .keras import read_model

    spec = read_model(path, config=config, custom_objects=custom_objects)
    return reduced_image(spec, dtype)


def _check_dtype(dtype: str) -> None:
    if arguments.text(dtype, "dtype") not in _SUPPORTED_DTYPES:
        raise FastGRUError(f"dtype={dtype!r} is not supported; expected one of "
                           f"{_SUPPORTED_DTYPES}")


def load(path: PathLike, *, config: Any = None, device: str = "cpu",
         threads: Optional[int] = None, dtype: str = "float32",
         precision: str = "float32", custom_objects: Optional[dict] = None):
    """Load a Keras model (``.keras``, ``.h5``, ``.weights.h5`` + ``config=``) or a converted
    ``.fgru`` file; the format is detected from the file's content.

    ``custom_objects`` maps a custom layer class name (or its ``registered_name``) to the
    fastgru layer whose maths it keeps, e.g. ``{"MyGRU": fastgru.GRU}``.

    ``dtype="float16" | "bfloat16"`` rounds a Keras model's weights as ``convert`` would
    store them (compute stays float32), to preview a reduced-precision conversion; its
    ``metadata["precision"]`` holds the measured error. A ``.fgru`` file runs as stored.

    ``precision="bfloat16"`` (or ``"bf16"``) runs every GRU's two matrix products in bf16:
    weights repacked to bf16 at load, x and h rounded to bf16 where they enter a product,
    float32 accumulation, gate maths and state (AVX512_BF16 where the CPU has it). About
    half the bytes per step; max error against float32 around 1e-2. Independent of
    ``dtype``: a bfloat16-stored file runs in either precision. The default ``"float32"``
    is exact float32.

    ``device="cuda"`` runs the model on a CUDA GPU through CuPy (``pip install
    'fastgru[gpu]'``): numpy arrays in give numpy arrays out; CuPy arrays, or anything with
    ``__cuda_array_interface__`` or DLPack, give CuPy arrays with no copy through the host.
    The carried state of a stateful model or a stream stays on the device.
    """
    if device not in ("cpu", "cuda"):
        raise FastGRUError(f"device={device!r}: expected 'cpu' or 'cuda'")
    _check_dtype(dtype)
    from .model import Model
    from .precision import compute_precision_id

    path = arguments.path_text(path)
    # bad values fail before the file is read
    compute_precision_id(precision)
    arguments.threads(threads)
    arguments.custom_objects(custom_objects)
    return Model(_image_for(path, config, custom_objects, dtype), threads=threads,
                 source=path, precision=precision, device=device)


def convert(src_path: PathLike, dst_path: PathLike, *, config: Any = None,
            dtype: str = "float32", custom_objects: Optional[dict] = None,
            format: str = "fgru", name: Optional[str] = None) -> None:
    """Write the converted form of a model file: ``format="fgru"`` the ``.fgru`` image
    (see docs/FORMAT.md), ``format="c"`` that image as a C header (``fastgru/c_export.py``)
    whose symbols start with ``name`` (default: from the output file's name). Weights are
    stored as ``dtype`` ("float32", "float16" or "bfloat16"; compute is float32 in every
    case); a reduced dtype's file records its measured max abs error against float32."""
    _check_dtype(dtype)
    arguments.custom_objects(custom_objects)
    if arguments.text(format, "format") not in ("fgru", "c"):
        raise FastGRUError(f"format={format!r} is not supported; expected 'fgru' or 'c'")
    if name is not None and arguments.text(name, "name") is not None and format != "c":
        raise FastGRUError("name= only applies to format='c'")
    from .output_file import replaced_atomically

    src_path = arguments.path_text(src_path, "src_path")
    dst_path = arguments.path_text(dst_path, "dst_path")
    image = _image_for(src_path, config, custom_objects, dtype)
    if format == "c":
        from . import c_export

        name = name or c_export.symbol_name(dst_path)
        text = c_export.header_text(image, name, source=src_path)
        data = text.encode("ascii")
        with replaced_atomically(c_export.config_path(dst_path)) as f:
            f.write(c_export.config_text(image, name).encode("ascii"))
    else:
        data = image
    with replaced_atomically(dst_path) as f:
        f.write(data)
