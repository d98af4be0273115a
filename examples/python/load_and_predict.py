"""Load a Keras model and predict, as with keras.Model.predict.

    python examples/python/load_and_predict.py [MODEL]

MODEL defaults to the demo model bundled with fastgru (fastgru/data/demo.keras: a GRU that
forecasts vibration from windows of 3 sensor channels, trained with Keras 3).
"""
import sys
from pathlib import Path

import numpy as np

import fastgru

path = sys.argv[1] if len(sys.argv) > 1 else Path(fastgru.__file__).parent / "data" / "demo.keras"
model = fastgru.load(path)              # .keras, .h5, .weights.h5 (+ config=) or .fgru
model.summary()

# a batch of 8 sequences of 48 steps, with the features the model's input takes
features = model.inputs[0].shape[-1]
x = np.random.default_rng(0).normal(size=(8, 48, features)).astype(np.float32)
y = model.predict(x, verbose=0)         # numpy in, numpy out
print("predictions:", y.shape, y.dtype)

if len(sys.argv) == 1:                  # the demo ships the outputs Keras gave for its inputs
    stored = np.load(Path(fastgru.__file__).parent / "data" / "demo_io.npz")
    err = np.abs(model.predict(stored["x"], verbose=0) - stored["y"]).max()
    print(f"max abs error against Keras: {err:.2e}")
