"""custom_gru ops through the image and the C kernels, against the float64 evaluation of the
declared equations (tests/reference_custom_gru.py): every ISA against the scalar path, thread
counts bitwise, masks, go_backwards, initial and carried state, streams and bf16; and the
default CustomGRU bitwise equal to the fixed GRU path."""
import numpy as np
import pytest

from fastgru import CustomGRU, _core
from fastgru.format import pack_model, read_metadata
from fastgru.model import Model
from model_cases import SpecBuilder
from spec_reference import run_spec as reference_run

TOL = 1e-5
F = 5

CELLS = {
    "default": CustomGRU(),
    "leaky_textbook": CustomGRU(candidate="leaky_relu(xh + hh, 0.1)",
                                h="(1 - z) * h_prev + z * candidate"),
    "poly_before": CustomGRU(z="sigmoid((xz + hz)**2 - 0.5 * (xz + hz) + 0.2)",
                             reset_after=False),
    "hard_relu6": CustomGRU(z="hard_sigmoid(xz + hz)", r="hard_sigmoid(xr + hr)",
                            candidate="relu(xh + r * hh, max_value=6.0)"),
    "everything": CustomGRU(
        z="clip(sigmoid(xz + hz) * 1.1 - 0.05, 0, 1)", r="sigmoid(xr + hr) / 2 + 0.25",
        candidate="tanh(xh + r * hh) + 0.1 * elu(xh, alpha=0.5) - square(hh) / 8 "
                  "+ 0.01 * sqrt(abs(h_prev)) + 0.01 * log(1 + exp(-abs(xz)))",
        h="maximum(minimum(z * h_prev + (1 - z) * candidate, 3), -3) + hard_shrink(h_prev, 0.5)"
          " * 0.01 + relu(xz, 0.1, 2.0, 0.5) * 0.01 + (abs(xz) + 1) ** -3 * 0.01"
          " + abs(hz) ** 1.5 * 0.001",
        reset_after=False, gate_order="hzr"),
}


def custom_spec(cell, units=20, *, bias="2d", mask=False, state=False, go_backwards=False,
                stateful=False, return_sequences=True, seed=0):
    """Input -> custom_gru -> Dense."""
    s = SpecBuilder("custom", np.random.default_rng(seed))
    x = s.input("x", (None, F))
    m = None
    if mask:
        m = s.op("compute_mask", "masking", [x], [("masking/mask", (None,), "bool")],
                 {"value": 0.0})
    h0 = s.input("h0", (units,)) if state else None
    y = s.gru("cell", x, units, mask=m, h0=h0, return_sequences=return_sequences,
              go_backwards=go_backwards, stateful=stateful, use_bias=bias is not None,
              reset_after=bias == "2d")
    op = s.ops[-1]
    op.kind = "custom_gru"
    op.attrs.update(cell=cell, reset_after=cell.reset_after)
    out = s.dense("head", y, 3)
    return s.spec([out], stateful_batch=4 if stateful else None)


def inputs(spec, batch=4, steps=9, seed=1):
    rng = np.random.default_rng(seed)
    x = rng.normal(size=(batch, steps, F)).astype(np.float32)
    x[-1, 6:] = 0.0   # padding the masked specs skip
    x[0, 2] = 0.0
    out = [x]
    if "h0" in spec.inputs:
        out.append(rng.normal(size=(batch, spec.tensors["h0"].shape[0])).astype(np.float32))
    return out


@pytest.fixture
def isa_cap():
    yield _core.set_isa_cap
    _core.set_isa_cap(None)


@pytest.mark.parametrize("name", sorted(CELLS))
@pytest.mark.parametrize("bias", ["2d", "1d", None])
def test_cells_match_the_declared_equations(name, bias, isa_cap):
    spec = custom_spec(CELLS[name], bias=bias, mask=True)
    xs = inputs(spec)
    want = reference_run(spec, xs)[0]
    image = pack_model(spec)
    assert read_metadata(image)  # readable, and the version says custom_gru
    results = {}
    for isa in _core.isa_available():
        isa_cap(isa)
        results[isa] = Model(image, threads=1).predict(xs)
        np.testing.assert_allclose(results[isa], want, atol=TOL, rtol=0, err_msg=isa)
    for isa, y in results.items():
        np.testing.assert_allclose(y, results["scalar"], atol=TOL, rtol=0, err_msg=isa)


@pytest.mark.parametrize("options", [dict(go_backwards=True), dict(state=True),
                                     dict(return_sequences=False, mask=True),
                                     dict(go_backwards=True, mask=True, state=True)])
def test_rnn_options(options):
    for cell in (CELLS["leaky_textbook"], CELLS["poly_before"]):
        spec = custom_spec(cell, **options)
        xs = inputs(spec)
        got = Model(pack_model(spec)).predict(xs)
        np.testing.assert_allclose(got, reference_run(spec, xs)[0], atol=TOL, rtol=0)


@pytest.mark.parametrize("reset_after", [True, False])
# (160, 1) and (100, 2) split the units between threads, (48, 7) the batch rows
@pytest.mark.parametrize("units, batch", [(160, 1), (100, 2), (48, 7)])
def test_thread_counts_are_bitwise_equal(reset_after, units, batch):
    cell = CELLS["everything"] if not reset_after else CELLS["leaky_textbook"]
    spec = custom_spec(cell, units=units)
    xs = inputs(spec, batch=batch, steps=40)
    one = Model(pack_model(spec), threads=1).predict(xs)
    for n in (2, 3, 4):
        np.testing.assert_array_equal(Model(pack_model(spec), threads=n).predict(xs), one)


@pytest.mark.parametrize("reset_after", [True, False])
def test_default_cell_equals_the_fixed_gru_bitwise(reset_after, isa_cap):
    spec = custom_spec(CustomGRU(reset_after=reset_after), units=40,
                       bias="2d" if reset_after else "1d")
    plain = custom_spec(CustomGRU(reset_after=reset_after), units=40,
                        bias="2d" if reset_after else "1d")
    plain.ops[0].kind = "gru"
    xs = inputs(spec)
    for isa in _core.isa_available():
        isa_cap(isa)
        np.testing.assert_array_equal(Model(pack_model(spec)).predict(xs),
                                      Model(pack_model(plain)).predict(xs), err_msg=isa)


def test_stream_and_stateful_carry():
    cell = CELLS["poly_before"]
    spec = custom_spec(cell, stateful=True)
    xs, xs2 = inputs(spec, steps=8), inputs(spec, steps=8, seed=2)
    carried = {}
    want = [reference_run(spec, xs, carried)[0], reference_run(spec, xs2, carried)[0]]
    model = Model(pack_model(spec))
    assert model.stateful
    for x, w in zip((xs, xs2), want):   # the second call starts from the first's state
        np.testing.assert_allclose(model.predict(x), w, atol=TOL, rtol=0)
    model.reset_states()
    np.testing.assert_allclose(model.predict(xs2), reference_run(spec, xs2)[0], atol=TOL, rtol=0)
    stream_spec = custom_spec(cell, mask=True)
    stream = Model(pack_model(stream_spec)).stream(batch_size=4)
    got = np.stack([stream.step(xs[0][:, t]) for t in range(8)], axis=1)
    np.testing.assert_allclose(got, reference_run(stream_spec, xs)[0], atol=TOL, rtol=0)


def test_bfloat16_precision_stays_near_the_equations():
    spec = custom_spec(CELLS["leaky_textbook"], units=32)
    xs = inputs(spec)
    model = Model(pack_model(spec), precision="bfloat16")
    assert model.precision == "bfloat16"
    np.testing.assert_allclose(model.predict(xs), reference_run(spec, xs)[0], atol=3e-2)


def test_sixteen_bit_storage_keeps_the_program_exact():
    spec = custom_spec(CELLS["everything"])
    image = pack_model(spec, dtype="float16")
    xs = inputs(spec)
    np.testing.assert_allclose(Model(image).predict(xs), reference_run(spec, xs)[0], atol=5e-3)


def _opcodes():
    from fastgru.custom_gru import OPCODES, SLOTS
    return OPCODES, SLOTS


def _hostile_programs():
    op, slot = _opcodes()
    tail = [(op["load"], slot["z"]), (op["store"], slot["r"]), (op["load"], slot["r"]),
            (op["store"], slot["candidate"]), (op["load"], slot["candidate"]),
            (op["store"], slot["h"])]
    z = [(op["load"], slot["xz"]), (op["store"], slot["z"])]
    return [
        ([(99, 0)] + z + tail, "unknown opcode"),
        ([(2.5, 0)] + z + tail, "unknown opcode"),
        ([(op["load"], 11), (op["store"], slot["z"])] + tail, "slot out of range"),
        ([(op["load"], -1), (op["store"], slot["z"])] + tail, "slot out of range"),
        ([(op["load"], 1.5), (op["store"], slot["z"])] + tail, "slot out of range"),
        ([(op["load"], slot["h"]), (op["store"], slot["z"])] + tail, "before it is set"),
        ([(op["load"], slot["r"]), (op["store"], slot["z"])] + tail, "before it is set"),
        ([(op["add"], 0)] + z + tail, "pops an empty stack"),
        ([(op["const"], 1.0)] * 17 + z + tail, "more than 16 stack entries"),
        ([(op["const"], np.inf), (op["store"], slot["z"])] + tail, "not finite"),
        ([(op["const"], np.nan), (op["store"], slot["z"])] + tail, "not finite"),
        ([(op["pow"], np.nan)] + z + tail, "pops an empty stack"),
        ([(op["load"], slot["xz"]), (op["pow"], np.inf), (op["store"], slot["z"])] + tail,
         "not finite"),
        ([(op["load"], slot["xz"]), (op["store"], slot["r"])] + tail, "out of the order"),
        ([(op["load"], slot["xz"])] + z + tail, "other values pending"),
        (z + tail[:-2], "ends before it stores"),
        ([(op["load"], slot["xz"]), (op["act"], 16), (op["store"], slot["z"])] + tail,
         "not elementwise"),
        ([(op["load"], slot["xz"]), (op["act"], 99), (op["store"], slot["z"])] + tail,
         "activation id out of range"),
        ([(op["load"], slot["xz"]), (op["neg"], 3.0), (op["store"], slot["z"])] + tail,
         "operand must be 0"),
        (z + tail + [(op["load"], slot["xz"])] * 5000, "instructions"),
        (z + tail + [(op["load"], slot["xz"])], "follows the store of h"),
    ]


@pytest.mark.parametrize("program, message", _hostile_programs())
def test_loader_refuses_hostile_programs(program, message):
    from fastgru.errors import FastGRUError
    cell = CustomGRU()
    cell.program = np.asarray(program, dtype=np.float32)
    with pytest.raises(FastGRUError, match=message):
        Model(pack_model(custom_spec(cell)))


def test_loader_refuses_hh_before_r_without_reset_after():
    from fastgru.errors import FastGRUError
    op, slot = _opcodes()
    cell = CustomGRU(reset_after=False)
    good = cell.program
    cell.program = good.copy()
    cell.program[0] = (op["load"], slot["hh"])   # z's first read becomes hh
    with pytest.raises(FastGRUError, match="reads a slot before it is set"):
        Model(pack_model(custom_spec(cell)))
    Model(pack_model(custom_spec(CustomGRU(candidate="tanh(hh)", reset_after=False))))


def test_program_record_must_be_float32_rows_of_two():
    from fastgru.errors import FastGRUError
    cell = CustomGRU()
    cell.program = np.zeros((9, 3), dtype=np.float32)
    with pytest.raises(FastGRUError, match=r"not an \(n, 2\) program record"):
        Model(pack_model(custom_spec(cell)))


def test_custom_cells_raise_the_minor_version_only_where_used():
    import struct
    custom = custom_spec(CustomGRU())
    plain = custom_spec(CustomGRU())
    plain.ops[0].kind = "gru"
    assert struct.unpack_from("<HH", pack_model(custom), 8) == (1, 2)
    assert struct.unpack_from("<HH", pack_model(custom, dtype="bfloat16"), 8) == (1, 2)
    assert struct.unpack_from("<HH", pack_model(plain), 8) == (1, 0)


def test_c_config_builds_in_the_programs_activations():
    # a library built for this model only (fastgru convert --format c) must keep the
    # activations the cell's equations call, or its loader refuses the program
    import re
    from fastgru import c_export
    from fastgru.registry import ACTIVATIONS, OP_BY_NAME
    text = c_export.config_text(pack_model(custom_spec(CELLS["hard_relu6"])), "m")
    bits = int(re.search(r"FG_CONFIG_ACTIVATIONS 0x([0-9a-f]+)", text).group(1), 16)
    assert {"hard_sigmoid", "relu6"} <= {n for n, i in ACTIVATIONS.items() if bits >> i & 1}
    ops = int(re.search(r"FG_CONFIG_OPS 0x([0-9a-f]+)", text).group(1), 16)
    assert ops >> OP_BY_NAME["custom_gru"].id & 1
