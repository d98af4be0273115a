"""Convert a Keras model to fastgru's own file (.fgru: loads fast, no h5py, readable from C)
and to a C header that embeds it in a program (src_c/Makefile's `embedded` target).

    python examples/python/convert_model.py [MODEL] [OUT_DIR]

MODEL defaults to the bundled demo model, OUT_DIR to the current directory.
"""
import sys
from pathlib import Path

import numpy as np

import fastgru

src = sys.argv[1] if len(sys.argv) > 1 else Path(fastgru.__file__).parent / "data" / "demo.keras"
out_dir = Path(sys.argv[2] if len(sys.argv) > 2 else ".")
out_dir.mkdir(parents=True, exist_ok=True)

fastgru.convert(src, out_dir / "model.fgru")                   # float32 weights
fastgru.convert(src, out_dir / "model_f16.fgru", dtype="float16")  # half the bytes
fastgru.convert(src, out_dir / "model.h", format="c", name="model")
for name in ("model.fgru", "model_f16.fgru", "model.h"):
    print(f"{out_dir / name}: {(out_dir / name).stat().st_size} bytes")

keras_model, converted = fastgru.load(src), fastgru.load(out_dir / "model.fgru")
x = np.random.default_rng(2).normal(size=(4, 30, keras_model.inputs[0].shape[-1]))
x = x.astype(np.float32)
same = np.array_equal(keras_model.predict(x, verbose=0), converted.predict(x, verbose=0))
print("the .fgru gives the same bytes:", same)
print("float16 error:", fastgru.load(out_dir / "model_f16.fgru").metadata["precision"])
