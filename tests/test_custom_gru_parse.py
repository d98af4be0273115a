"""The CustomGRU expression language: precedence as Python's, Keras' activation parameters as
Keras computes them, the default cell as keras.layers.GRU, and hostile text refused with the
expression and column named."""
import numpy as np
import pytest

from fastgru import CustomGRU, FastGRUError
from fastgru.custom_gru_parse import MAX_CHARS, MAX_DEPTH, parse_expression
from reference_custom_gru import custom_gru_reference, evaluate
from reference_gru import gru_reference

NAMES = ("xz", "xr", "xh", "hz", "hr", "hh", "h_prev")
RNG = np.random.default_rng(0)
ENV = {n: RNG.uniform(0.5, 2.0, 7) for n in NAMES}


@pytest.mark.parametrize("text", [
    "-xz**2", "xz - xr - xh", "xz / xr / xh", "xz**2**0.5", "2**-1 * xz", "-(xz + xr) * -xh",
    "xz + xr * xh - hz / hr", "xz ** -2", "+xz - -xr", "(xz)**3 * .5e1", "1e-3 * xz - 2.",
])
def test_precedence_and_associativity_are_pythons(text):
    # Python's own arithmetic on the same text (the test's text, not user input) is the spec.
    want = eval(text, {"__builtins__": {}}, dict(ENV))  # noqa: S307
    got = evaluate(parse_expression("z", text, NAMES), ENV)
    np.testing.assert_allclose(got, want, rtol=1e-15)


@pytest.mark.parametrize("text, keras_call", [
    ("leaky_relu(xz, 0.3)", lambda K, x: K.activations.leaky_relu(x, 0.3)),
    ("leaky_relu(xz, negative_slope=0.05)", lambda K, x: K.activations.leaky_relu(x, 0.05)),
    ("relu(xz, max_value=6.0)", lambda K, x: K.activations.relu(x, max_value=6.0)),
    ("relu(xz, max_value=1.5)", lambda K, x: K.activations.relu(x, max_value=1.5)),
    ("relu(xz, 0.1, 2.0, 0.5)", lambda K, x: K.activations.relu(x, 0.1, 2.0, 0.5)),
    ("relu(xz, threshold=-0.5)", lambda K, x: K.activations.relu(x, threshold=-0.5)),
    ("elu(xz, alpha=0.5)", lambda K, x: K.activations.elu(x, alpha=0.5)),
    ("celu(xz, 2.0)", lambda K, x: K.activations.celu(x, 2.0)),
    ("hard_shrink(xz, 1.0)", lambda K, x: K.activations.hard_shrink(x, 1.0)),
    ("soft_shrink(xz, threshold=0.25)", lambda K, x: K.activations.soft_shrink(x, 0.25)),
    ("squareplus(xz, 1.0)", lambda K, x: K.activations.squareplus(x, 1.0)),
    ("hard_sigmoid(xz)", lambda K, x: K.activations.hard_sigmoid(x)),
    ("silu(xz)", lambda K, x: K.activations.silu(x)),
    ("clip(xz, -0.5, 0.75)", lambda K, x: K.ops.clip(x, -0.5, 0.75)),
    ("square(xz) + sqrt(abs(xz)) - log(exp(xz) + 1)",
     lambda K, x: K.ops.square(x) + K.ops.sqrt(K.ops.abs(x)) - K.ops.log(K.ops.exp(x) + 1)),
    ("minimum(xz, 0.1) + maximum(xz, -0.1)",
     lambda K, x: K.ops.minimum(x, 0.1) + K.ops.maximum(x, -0.1)),
])
def test_functions_follow_keras(text, keras_call):
    keras = pytest.importorskip("keras")
    x = np.linspace(-8, 8, 161).astype(np.float32)
    want = np.asarray(keras_call(keras, x), dtype=np.float64)
    got = evaluate(parse_expression("candidate", text, NAMES), {"xz": x.astype(np.float64)})
    np.testing.assert_allclose(got, want, atol=2e-6, rtol=2e-6)


@pytest.mark.parametrize("reset_after", [True, False])
def test_default_cell_is_keras_gru(reset_after):
    rng = np.random.default_rng(1)
    x = rng.normal(size=(3, 5, 4))
    W, U = rng.normal(size=(4, 9)), rng.normal(size=(3, 9))
    bias = rng.normal(size=(2, 9) if reset_after else (9,))
    mask = rng.random((3, 5)) > 0.3
    want = gru_reference(x, W, U, bias, reset_after=reset_after, mask=mask, return_sequences=True)
    got = custom_gru_reference(CustomGRU(reset_after=reset_after), x, W, U, bias, mask=mask,
                               return_sequences=True)
    for g, w in zip(got, want):
        np.testing.assert_allclose(g, w, rtol=1e-12, atol=1e-12)


def test_gate_order_permutes_the_blocks():
    rng = np.random.default_rng(2)
    x, W, U, bias = (rng.normal(size=s) for s in ((2, 4, 3), (3, 6), (2, 6), (2, 6)))
    order = CustomGRU(gate_order="rzh").block_permutation(2)   # rzh -> zrh columns
    np.testing.assert_array_equal(order, [2, 3, 0, 1, 4, 5])
    want = gru_reference(x, W[:, order], U[:, order], bias[:, order])
    got = custom_gru_reference(CustomGRU(gate_order="rzh"), x, W, U, bias)
    np.testing.assert_allclose(got[0], want[0], rtol=1e-12)


def _refused(match, **kwargs):
    with pytest.raises(FastGRUError, match=match):
        CustomGRU(**kwargs)


@pytest.mark.parametrize("kwargs, match", [
    (dict(z="sigmoid(xz + "), r"z='sigmoid\(xz \+ ': column 14: expression ends too early"),
    (dict(r="xr @ hr"), r"r='xr @ hr': column 4: unexpected character '@'"),
    (dict(z="xz.__class__"), r"column 3: unexpected character '\.'"),
    (dict(z="__import__(xz)"), r"column 1: unknown function '__import__'"),
    (dict(z="__import__('os')"), r"column 12: unexpected character \"'\""),
    (dict(z="sigmoid(xz + q)"), r"column 14: unknown name 'q'"),
    (dict(z="sigmoid(xz + r)"), r"column 14: 'r' is defined after z"),
    (dict(r="candidate"), r"'candidate' is defined after r"),
    (dict(h="h * 2"), r"column 1: h cannot read itself"),
    (dict(z="sigmoid(hh)", reset_after=False), r"column 9: with reset_after=False.*hh"),
    (dict(z="xz ** xr"), r"column 4: the exponent of \*\* must be a number"),
    (dict(z="softmax(xz)"), r"acts across the units of a row"),
    (dict(z="leaky_relu(xz, 0.2, 1)"), r"takes at most 2 arguments"),
    (dict(z="relu(xz, slope=1)"), r"unknown keyword 'slope'"),
    (dict(z="elu(xz, alpha=xr)"), r"alpha must be a number"),
    (dict(z="clip(xz, 0)"), r"clip\(\) takes 3"),
    (dict(z="1e39 * xz"), r"does not fit float32"),
    (dict(z="10.0 ** 400 * xz"), r"not a finite number"),
    (dict(z="xz\x00"), r"unexpected character '\\x00'"),
    (dict(z="xz ) "), r"column 4: unexpected '\)'"),
    (dict(z=42), r"z must be a str"),
    (dict(gate_order="zzh"), r"gate_order must be a permutation"),
    (dict(reset_after=1), r"reset_after must be True or False"),
])
def test_bad_expressions_name_expression_and_column(kwargs, match):
    _refused(match, **kwargs)


def test_limits_on_length_depth_and_size():
    _refused(rf"at most {MAX_CHARS}", z="xz" + " + xz" * 1000)
    _refused(rf"nested more than {MAX_DEPTH} deep", z="(" * 100 + "xz" + ")" * 100)
    _refused(r"nested more than", z="-" * 200 + "xz")
    _refused(r"expression too large", z="+".join(["xz*xr"] * 600)[:MAX_CHARS])
    _refused(r"more than 16 pending values", z="xz+(" * 16 + "xz" + ")" * 16)


def test_fuzzed_text_gives_only_fastgru_errors():
    # Random token soups: every outcome is a compiled cell or a FastGRUError, never another
    # exception (the atheris harness fuzz/fuzz_custom_gru.py does the same at length).
    rng = np.random.default_rng(3)
    pieces = ["xz", "hz", "(", ")", "+", "-", "*", "/", "**", ",", "=", "2", "0.5", "1e9",
              "sigmoid(", "relu(", "clip(", "alpha", "max_value", " ", "h_prev", "1e40", "."]
    for _ in range(2000):
        text = "".join(rng.choice(pieces, size=rng.integers(1, 12)))
        try:
            CustomGRU(z=text)
        except FastGRUError:
            pass


def _fuzz(*args):
    import os
    import subprocess
    import sys
    root = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
    return subprocess.run([sys.executable, os.path.join(root, "fuzz", "fuzz_custom_gru.py"),
                           *args], capture_output=True, text=True, timeout=600)


def test_parser_fuzzer_random_cases_compile_run_or_refuse():
    run = _fuzz("--random", "100", "--seed", "5")
    assert run.returncode == 0 and "100 random cases passed" in run.stdout, run.stderr[-4000:]


def test_parser_fuzzer_atheris_bounded_run(tmp_path):
    import importlib.util
    if importlib.util.find_spec("atheris") is None:
        pytest.skip("needs atheris (pip install atheris)")
    run = _fuzz("-seed=1", "-runs=1000", f"-artifact_prefix={tmp_path}/")
    assert run.returncode == 0, run.stderr[-4000:]
    assert not list(tmp_path.glob("crash-*")), run.stderr[-4000:]
