"""A sensor-stream loop: one reading at a time through the model with ``stream.step``, as a
device would feed it, giving what ``predict`` gives for the whole window.

    python examples/python/sensor_stream.py

Uses the bundled demo model (fastgru/data/demo.keras), whose input is 3 sensor channels.
"""
from pathlib import Path

import numpy as np

import fastgru

model = fastgru.load(Path(fastgru.__file__).parent / "data" / "demo.keras")
readings = np.random.default_rng(1).normal(size=(200, 3)).astype(np.float32)  # 200 time steps

stream = model.stream(batch_size=1)     # one sensor; the carried GRU state lives here
out = np.empty((1, 1), np.float32)      # written in place: the loop allocates nothing
for t, reading in enumerate(readings):
    stream.step(reading[None], out=out)   # (1, 3) in, the forecast after step t out
    if t % 50 == 49:
        print(f"step {t + 1}: forecast {out[0, 0]:+.4f}")

whole = model.predict(readings[None], verbose=0)
print("stream equals predict on the whole window:", np.allclose(out, whole, atol=1e-5))
stream.reset()                          # a new sensor session starts from a zero state
