"""Train and save the bundled demo model: a GRU forecaster for a synthetic machine sensor.

Run from the repository root (Keras 3 on jax, about half a minute on 2 cores):

    KERAS_BACKEND=jax python tools/make_demo_model.py

The task: a machine reports vibration, temperature and motor load once a second; from the last
48 readings the model predicts the next vibration reading (a large forecast error would flag an
anomaly). Writes fastgru/data/demo.keras (uncompiled: no optimizer state) and
fastgru/data/demo_io.npz with ``x`` (inputs), ``y`` (Keras' outputs for them) and
``description``. Seeds are fixed, so the numbers are reproducible.
"""
import os
from pathlib import Path

import numpy as np

os.environ.setdefault("KERAS_BACKEND", "jax")
import keras  # noqa: E402  (the backend must be chosen first)

DATA = Path(__file__).resolve().parent.parent / "fastgru" / "data"
SEED = 7
WINDOW = 48
FEATURES = ("vibration", "temperature", "load")
DESCRIPTION = (
    "Sensor forecaster: Input(48 steps x 3 features: vibration, temperature, motor load) -> "
    "GRU(64, return_sequences) -> GRU(32) -> Dense(1), trained with Keras {version} on a "
    "synthetic machine-sensor signal to predict the next vibration reading. x: {n} windows, "
    "y: Keras' predictions for them.")


def sensor_windows(rng: np.random.Generator, n: int):
    """Windows of WINDOW readings and the vibration reading that follows each.
    Vibration = two machine harmonics scaled by the load, plus a temperature drift and noise;
    load switches between duty levels; temperature follows load slowly."""
    steps = WINDOW + 1
    t = np.arange(steps)[None, :]
    period = rng.uniform(8.0, 16.0, (n, 1))
    phase = rng.uniform(0.0, 2 * np.pi, (n, 1))
    switch = rng.integers(5, WINDOW, (n, 1))
    load = np.where(t < switch, rng.uniform(0.3, 0.7, (n, 1)), rng.uniform(0.5, 1.0, (n, 1)))
    temperature = np.cumsum(0.05 * (load - 0.6) + 0.02 * rng.standard_normal((n, steps)), axis=1)
    vibration = (load * (np.sin(2 * np.pi * t / period + phase)
                         + 0.3 * np.sin(4 * np.pi * t / period + 2 * phase))
                 + 0.2 * temperature + 0.05 * rng.standard_normal((n, steps)))
    x = np.stack([vibration, temperature, load], axis=-1)[:, :WINDOW]
    return x.astype(np.float32), vibration[:, WINDOW:].astype(np.float32)


def forecaster() -> keras.Model:
    x = keras.Input((WINDOW, len(FEATURES)), name="sensor_window")
    h = keras.layers.GRU(64, return_sequences=True, name="gru_1")(x)
    h = keras.layers.GRU(32, name="gru_2")(h)
    y = keras.layers.Dense(1, name="next_vibration")(h)
    return keras.Model(x, y, name="sensor_forecaster")


def main() -> None:
    keras.utils.set_random_seed(SEED)
    rng = np.random.default_rng(SEED)
    train_x, train_y = sensor_windows(rng, 4096)
    trained = forecaster()
    trained.compile(optimizer=keras.optimizers.Adam(3e-3), loss="mse")
    history = trained.fit(train_x, train_y, batch_size=64, epochs=3, verbose=0)

    model = forecaster()  # never compiled, so the file holds no optimizer state
    model.set_weights(trained.get_weights())
    test_x, test_y = sensor_windows(rng, 32)
    y = np.asarray(model.predict(test_x, batch_size=len(test_x), verbose=0))

    DATA.mkdir(parents=True, exist_ok=True)
    model_path = DATA / "demo.keras"
    model.save(model_path)
    reloaded = keras.saving.load_model(model_path)
    err = np.abs(np.asarray(reloaded.predict(test_x, batch_size=len(test_x), verbose=0)) - y)
    assert err.max() <= 1e-6, f"reloaded demo model differs from the saved one by {err.max()}"
    description = DESCRIPTION.format(version=keras.__version__, n=len(test_x))
    np.savez_compressed(DATA / "demo_io.npz", x=test_x, y=y, description=np.array(description))

    mse = float(np.mean((y - test_y) ** 2))
    baseline = float(np.mean((test_x[:, -1, :1] - test_y) ** 2))
    print(f"training loss per epoch: {[round(v, 4) for v in history.history['loss']]}")
    print(f"test MSE {mse:.4f} (repeat-last-reading baseline {baseline:.4f})")
    for path in (model_path, DATA / "demo_io.npz"):
        print(f"{path}: {path.stat().st_size} bytes")


if __name__ == "__main__":
    main()
