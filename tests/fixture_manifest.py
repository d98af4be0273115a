"""The committed real-Keras fixtures (tests/fixtures/manifest.json, made by
tools/make_fixtures.py) and how tests read their stored inputs and Keras outputs."""
from __future__ import annotations

import json
from pathlib import Path

import numpy as np

from custom_gru_fixture_cells import CUSTOM_GRU_OBJECTS

FIXTURES = Path(__file__).parent / "fixtures"
MANIFEST = json.loads((FIXTURES / "manifest.json").read_text()) \
    if (FIXTURES / "manifest.json").exists() else []
TOL = 1e-5
# Models Keras computes in 16 bits (tools/fixtures_16bit.py) where fastgru computes in float32:
# the bound on the difference, about twice the largest measured (float16 7.4e-4, mixed_float16
# 5.8e-4, bfloat16 3.3e-3, mixed_bfloat16 5.1e-3, over both Keras versions and every format).
KERAS_16BIT_TOL = {"gru_float16": 2e-3, "gru_mixed_float16": 2e-3,
                   "gru_bfloat16": 1e-2, "gru_mixed_bfloat16": 1e-2}

# Models fastgru refuses on purpose, with the words its message must contain.
REFUSED = {"time_major": "time_major=True.*its last output.*no model batch axis",
           "lambda_layer": "Lambda.*never executes"}
# Models that load only once their custom classes are mapped (and are refused before).
CUSTOM_OBJECTS = {"custom_gru": {"my_package>MyGRU": "GRU"}, **CUSTOM_GRU_OBJECTS}


def tolerance(entry) -> float:
    """How close fastgru must come to the stored Keras outputs of a fixture."""
    return KERAS_16BIT_TOL.get(entry["model"], TOL)


def arrays(data, prefix, suffix=""):
    """x0, x1, ... (or y0, y1, ...) with an optional suffix such as _call1, in order."""
    out, i = [], 0
    while f"{prefix}{i}{suffix}" in data:
        out.append(data[f"{prefix}{i}{suffix}"])
        i += 1
    return out


def paths(entry):
    """(model file, config file or None) of a manifest entry."""
    config = FIXTURES / entry["config"] if entry["config"] else None
    return FIXTURES / entry["file"], config


def load_data(entry):
    return np.load(FIXTURES / entry["data"])


def is_stateful(data) -> bool:
    """Stateful fixtures store three calls: call 1 continues call 0, call 2 follows a reset."""
    return "x0_call0" in data


def max_error(got, expected):
    assert len(got) == len(expected)
    errors = []
    for g, e in zip(got, expected):
        assert g.shape == e.shape
        errors.append(float(np.max(np.abs(g - e))) if e.size else 0.0)
    return max(errors)
