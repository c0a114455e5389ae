"""The C export against the NumPy reference, bit for bit: compiled for the host (warning-free at
-O0 and -O2 under -Werror -pedantic, and clean under the undefined-behaviour sanitizer) and for a
Cortex-M4 run under QEMU; every cell, stacks, delta models, widths 2..16, odd sizes."""

from __future__ import annotations

import re
import subprocess

import numpy as np
import pytest
from conftest import data_dir
from flax import nnx
from hypothesis import given, settings
from hypothesis import strategies as st

from jaxgru.cells import Stack
from jaxgru.cells.genome import MAX_THRESHOLD
from jaxgru.deploy import c_sources, pack_codes, stored_bytes, unpack_codes
from jaxgru.deploy import toolchain as tc
from jaxgru.deploy.packing import GROUP_FIELDS, group_rows, ungroup_rows
from jaxgru.model.calibrate import calibrate
from jaxgru.model.export import export_arrays
from jaxgru.model.floating import Classifier
from jaxgru.model.reference import Reference

needs_cc = pytest.mark.skipif(tc.host_compiler() is None, reason="no host C compiler (apt-get install gcc)")
needs_arm = pytest.mark.skipif(tc.cortex_m_toolchain() is not None, reason=str(tc.cortex_m_toolchain()))
N_IN = 27  # odd: MNIST rows less their last pixel


def _model(stack: str, hidden, mnist_splits, seed: int = 3):
    s = Stack.of(stack)
    p = Classifier(s, N_IN, hidden, 10, rngs=nnx.Rngs(seed)).params()
    return s, p, calibrate(p, mnist_splits.x_train[:300, :, :N_IN])


def _genomes(s: Stack, rng, wide: bool) -> np.ndarray:
    """One genome that cycles through every width of its datapath (2..8, or 9..16), one drawn."""
    lo, hi = (9, 16) if wide else (2, 8)
    cycle = lo + (np.arange(s.n_ops) + rng.integers(0, hi - lo + 1)) % (hi - lo + 1)
    return np.stack([cycle, rng.integers(lo, hi + 1, s.n_ops)]).astype(np.int32)


def _sequences(mnist_splits, n: int = 5):
    x = mnist_splits.x_val[:n, :, :N_IN]
    lengths = np.array([28, 1, 13, 28, 6, 21, 28, 9][:n])
    return x, lengths


def _check(arrays, x, lengths, outputs: tc.Outputs):
    want, counts = Reference(arrays).run(x, lengths)
    np.testing.assert_array_equal(outputs.logits, want)
    if counts is not None:
        np.testing.assert_array_equal(outputs.propagated.sum(axis=0), counts)


@needs_cc
@pytest.mark.parametrize("stack,hidden", [("gru", 7), ("lstm", 5), ("ligru", 9), ("sru", 7), ("gru+sru", [9, 5])])
@pytest.mark.parametrize("delta", [False, True], ids=["dense", "delta"])
def test_host_c_equals_the_reference(stack, hidden, delta, mnist_splits, tmp_path):
    """Genomes over every width 2..16 (narrow and wide datapaths), head widths 3..16, random
    thresholds; compiled at -O0 and -O2; real sequences of several lengths."""
    s, p, r = _model(stack, hidden, mnist_splits)
    x, lengths = _sequences(mnist_splits)
    rng = np.random.default_rng(len(stack) + delta)
    for wide in (False, True):
        for i, g in enumerate(_genomes(s, rng, wide)[: 1 if wide else 2]):
            t = rng.integers(0, MAX_THRESHOLD + 1, len(s.delta_sources)).astype(np.int32) if delta else None
            head_bits = int(rng.integers(9, 17) if wide else rng.integers(3, 9))
            a = export_arrays(p, r, g, head_bits=head_bits, thresholds=t)
            sources = tc.write_harness(tmp_path / f"{int(wide)}{i}", a, Reference(a).quantize_input(x), lengths,
                                       packed=bool(i % 2 == 0))
            for flags in (("-O0",), ("-O2",)):
                _check(a, x, lengths, tc.run_on_host(sources, flags))


@pytest.mark.skipif(tc.host_sanitizers() is not None, reason=str(tc.host_sanitizers()))
def test_undefined_behaviour_sanitizer_finds_nothing(mnist_splits, tmp_path):
    """Every kernel (GRU, LSTM, LiGRU and SRU layers, dense and delta) at 2, 4 and 16 bits (tables
    at 10), under the undefined-behaviour and address sanitizers (no read past a weight array).
    2 and 4 bits alternate over the operators, so that one build holds both packings."""
    s, p, r = _model("gru+lstm+ligru+sru", [8, 5, 7, 4], mnist_splits)  # GRU rows end on a byte at 2, 4 bits
    x, lengths = _sequences(mnist_splits, 3)
    tables = [op.kind in ("sigmoid", "tanh") for op in s.ops]  # 2^16-entry tables only slow the compiler
    for g in (np.where(np.arange(s.n_ops) % 2 == 0, 2, 4).astype(np.int32), np.where(tables, 10, 16).astype(np.int32)):
        for t in (None, np.full(len(s.delta_sources), 3, np.int32)):  # dense, then delta
            a = export_arrays(p, r, g, thresholds=t)
            sources = tc.write_harness(tmp_path / f"{g[1]}{t is None}", a, Reference(a).quantize_input(x), lengths)
            flags = ("-O1", "-fsanitize=undefined,address", "-fno-sanitize-recover=all")
            _check(a, x, lengths, tc.run_on_host(sources, flags))


@needs_cc
def test_packed_and_one_code_per_byte_give_the_same_bits(mnist_splits, tmp_path):
    s, p, r = _model("gru", 7, mnist_splits)
    x, lengths = _sequences(mnist_splits, 3)
    a = export_arrays(p, r, np.array([3, 5, 2, 7, 4, 6] + [5] * 11, np.int32))
    runs = [tc.run_on_host(tc.write_harness(tmp_path / str(packed), a, Reference(a).quantize_input(x), lengths,
                                            packed=packed)) for packed in (True, False)]
    np.testing.assert_array_equal(runs[0].logits, runs[1].logits)
    _check(a, x, lengths, runs[0])


@needs_cc
def test_float_input_wrapper_quantizes_as_the_reference(mnist_splits, tmp_path):
    """``NAME_quantize`` (behind JAXGRU_FLOAT_INPUT) on real inputs, scaled so that some land on
    ties and outside the code range, equals ``Reference.quantize_input``."""
    s, p, r = _model("gru", 5, mnist_splits)
    a = export_arrays(p, r, np.full(s.n_ops, 6, np.int32), input_bits=6)
    ref = Reference(a)
    x = np.concatenate([mnist_splits.x_val[:2, :, :N_IN].reshape(-1), np.linspace(-3, 3, 601),
                        (np.arange(-40, 40) + 0.5) / np.float32(a["x_inv_scale"])]).astype(np.float32)
    for name, text in c_sources(a, "m").items():
        (tmp_path / name).write_text(text)
    values = ", ".join(float(v).hex() + "f" for v in x)
    (tmp_path / "main.c").write_text(f"""#include <stdio.h>
#include "m.h"
static const float x[{x.size}] = {{{values}}};
static m_code q[{x.size}];
int main(void) {{ int i; m_quantize(x, {x.size}, q); for (i = 0; i < {x.size}; ++i) printf("%d\\n", q[i]); return 0; }}
""")
    exe = tmp_path / "q"
    subprocess.run([tc.host_compiler(), *tc.HOST_FLAGS, "-O2", "-DJAXGRU_FLOAT_INPUT", str(tmp_path / "m.c"),
                    str(tmp_path / "main.c"), "-o", str(exe)], check=True)
    got = np.array(subprocess.run([str(exe)], capture_output=True, text=True, check=True).stdout.split(), np.int64)
    np.testing.assert_array_equal(got, ref.quantize_input(x))


def test_generated_code_is_self_contained_and_integer(mnist_splits):
    """Only <stdint.h> (and the compiler's <arm_acle.h> intrinsics inside the Arm DSP path); no
    float outside the JAXGRU_FLOAT_INPUT wrapper; constants const; no allocation."""
    s, p, r = _model("gru+ligru", [5, 4], mnist_splits)
    a = export_arrays(p, r, np.arange(s.n_ops, dtype=np.int32) % 7 + 2, thresholds=np.ones(4, np.int32))
    files = c_sources(a, "tiny")
    source = files["tiny.c"]
    dsp = re.search(r"#if [^\n]*__ARM_FEATURE_SIMD32.*?\n#endif", source, flags=re.S).group(0)
    assert re.findall(r"#include\s+\S+", dsp) == ["#include <arm_acle.h>"]
    portable = source.replace(dsp, "") + files["tiny.h"]
    assert re.findall(r"#include\s+\S+", portable) == ['#include "tiny.h"', "#include <stdint.h>"]
    integer_path = re.sub(r"#ifdef JAXGRU_FLOAT_INPUT.*?#endif", "", source + files["tiny.h"], flags=re.S)
    assert not re.search(r"\b(float|double)\b", integer_path)
    assert not re.search(r"\b(malloc|calloc|realloc|free)\s*\(", source)
    arrays = re.findall(r"^static (?:const )?\w+ \w+\[", source, flags=re.M)
    assert arrays and all(a.startswith("static const") for a in arrays)


def test_bad_names_and_kinds_are_refused(mnist_splits):
    s, p, r = _model("gru", 4, mnist_splits)
    a = export_arrays(p, r, np.full(s.n_ops, 4, np.int32))
    with pytest.raises(ValueError, match="not a C identifier"):
        c_sources(a, "my-model")


@settings(max_examples=60, deadline=None)
@given(bits=st.integers(2, 8), codes=st.lists(st.integers(-128, 127), min_size=1, max_size=40))
def test_pack_unpack_round_trip(bits, codes):
    lo, hi = -(1 << (bits - 1)), (1 << (bits - 1)) - 1
    codes = np.clip(np.array(codes), lo, hi)
    stream = pack_codes(codes, bits)
    assert stream.size == stored_bytes(codes.size, bits, packed=True) == -(-codes.size * bits // 8)
    np.testing.assert_array_equal(unpack_codes(stream, bits, codes.size), codes)


def test_packing_order_is_least_significant_bit_first():
    """TensorFlow Lite's int4 order (low nibble first) is the 4-bit case of the stream."""
    assert pack_codes(np.array([1, -2]), 4).tolist() == [0xE1]
    assert pack_codes(np.array([1, 1, 1]), 3).tolist() == [0b01001001, 0b0]
    with pytest.raises(ValueError, match="outside the 3-bit range"):
        pack_codes(np.array([4]), 3)


@settings(max_examples=60, deadline=None)
@given(field=st.sampled_from(GROUP_FIELDS), rows=st.integers(1, 19), cols=st.integers(1, 9), seed=st.integers(0, 99))
def test_grouped_rows_round_trip_and_read_as_one_signed_halfword(field, rows, cols, seed):
    """The grouped storage takes the packed stream's bytes, gives the matrix back, and each group's
    halfword read as a signed 16-bit number is sum_r code_r 2^(r*f) plus the offsets of the rows
    below the top one (what one SMLAD multiplies)."""
    half = 1 << (field - 1)
    codes = np.random.default_rng(seed).integers(-half, half, (rows, cols))
    data = group_rows(codes, field)
    assert data.size == -(-rows * cols * field // 8)
    np.testing.assert_array_equal(ungroup_rows(data, field, rows, cols), codes)
    per = 16 // field
    halfwords = np.frombuffer(data[: rows // per * cols * 2].tobytes(), "<i2").reshape(-1, cols)
    for g in range(rows // per):
        weights = (1 << (field * np.arange(per)))[:, None]
        expected = (codes[g * per:(g + 1) * per] * weights).sum(0) + (half * weights[:-1]).sum()
        np.testing.assert_array_equal(halfwords[g], expected)


def test_grouped_order_by_hand():
    """Two 8-bit rows [1, -2] and [3, 4]: halfword j = (row 0 + 128) | row 1 << 8, little-endian,
    then a third row as plain int8; four 4-bit rows of one column: 1, -2, 3 offset by 8, -4 as is."""
    data = group_rows(np.array([[1, -2], [3, 4], [-1, 5]]), 8)
    assert data.tolist() == [129, 3, 126, 4, 255, 5]
    assert group_rows(np.array([[1], [-2], [3], [-4]]), 4).tolist() == [0x69, 0xCB]  # 9, 6, 11 and -4 as 0xC


@needs_arm
@pytest.mark.parametrize("stack,hidden", [("gru", 7), ("lstm", 5), ("ligru+sru", [6, 5])])
def test_cortex_m4_under_qemu_equals_the_reference(stack, hidden, mnist_splits, tmp_path):
    """The export built for a Cortex-M4 (thumb, soft float) and run on QEMU's MPS2-AN386, dense
    and delta, narrow and wide datapaths: the same logits and propagated units as the reference."""
    s, p, r = _model(stack, hidden, mnist_splits)
    x, lengths = _sequences(mnist_splits, 4)
    rng = np.random.default_rng(11)
    for wide in (False, True):
        g = _genomes(s, rng, wide)[0]
        for t in (None, rng.integers(0, MAX_THRESHOLD + 1, len(s.delta_sources)).astype(np.int32)):
            a = export_arrays(p, r, g, thresholds=t)
            d = tmp_path / f"{int(wide)}{t is None}"
            elf = tc.build_cortex_m(tc.write_harness(d, a, Reference(a).quantize_input(x), lengths))
            out = tc.run_on_qemu(elf)
            _check(a, x, lengths, out)
            assert (out.ticks[lengths > 1] > out.ticks[np.argmin(lengths)]).all()  # longer sequences cost more


@needs_arm
def test_cortex_m4_dsp_matmuls_equal_the_reference(mnist_splits, tmp_path):
    """The SMLAD path of the dense matmuls (grouped rows: 8-bit bytes, 4- and 2-bit packed): a
    fan-in above its 256-input partial sums (260), an odd fan-in (9: a lone last halfword), rows
    after the last whole block (260 and 9 rows: 4 at 2 bits, 1 at every width), and 4-bit codes
    stored one per byte; and of the delta column updates (two units at a time, bytes;
    columns of 260 and 9 codes, an odd number of units propagated); the same logits and
    propagated units as the reference."""
    s, p, r = _model("gru+gru", [260, 9], mnist_splits)
    x, lengths = _sequences(mnist_splits, 3)
    linear = np.array([op.kind == "linear" for op in s.ops])
    delta = np.full(len(s.delta_sources), 2, np.int32)
    for bits, packed, t in ((8, False, None), (4, True, None), (2, True, None), (4, False, None), (8, False, delta),
                            (4, False, delta)):
        a = export_arrays(p, r, np.where(linear, bits, 8).astype(np.int32), thresholds=t)
        d = tmp_path / f"{bits}{packed}{t is None}"
        _check(a, x, lengths, tc.run_on_qemu(tc.build_cortex_m(
            tc.write_harness(d, a, Reference(a).quantize_input(x), lengths, packed=packed))))
        assert "smlad" in subprocess.run(["arm-none-eabi-objdump", "-d", str(d / "cortex-m4.elf")],
                                         capture_output=True, text=True, check=True).stdout


@pytest.fixture
def tiny_run(tiny_float_model, tmp_path):
    """A finished-looking PTQ run: the tiny run's config and float model, and a front of two genomes."""
    import json
    import shutil

    run = tmp_path / "run"
    shutil.copytree(tiny_float_model.parent, run)
    n_ops = Stack.of("gru").n_ops
    (run / "front.json").write_text(json.dumps([{"bits": [3] * n_ops}, {"bits": [2 + k % 15 for k in range(n_ops)]}]))
    return run


@needs_cc
def test_export_command_writes_and_proves_a_front_genome(tiny_run, tmp_path, capsys):
    from jaxgru.deploy.cli import main

    assert main([str(tiny_run), "--front", "1", "--out", str(tmp_path / "c"), "--check", "3",
                 "--data-dir", str(data_dir())]) == 0
    out = capsys.readouterr().out
    assert "host C: 3 test sequences, logits identical" in out
    assert {p.name for p in (tmp_path / "c").iterdir()} >= {"jaxgru_model.h", "jaxgru_model.c", "jaxgru_model.npz"}
    saved = np.load(tmp_path / "c" / "jaxgru_model.npz")
    assert saved["genome"].tolist() == [2 + k % 15 for k in range(17)]


@pytest.mark.parametrize("args,message", [
    (["--front", "2"], "outside the front"),
    (["--widths", "3,4"], "gives 2 widths; gru has 17 operators"),
    (["--widths", "17"], "must lie in 2..16"),
    (["--widths", "4", "--thresholds", "9"], "threshold"),
    ([], "give a genome"),
])
def test_export_command_refuses_bad_input_in_one_line(tiny_run, args, message, capsys):
    from jaxgru.deploy.cli import main

    assert main([str(tiny_run), *args]) == 2
    err = capsys.readouterr().err.strip()
    assert message in err and "\n" not in err and "Traceback" not in err


def test_export_command_refuses_a_run_without_its_model(tiny_run, capsys):
    import shutil

    from jaxgru.deploy.cli import main

    shutil.rmtree(tiny_run / "float_model")
    assert main([str(tiny_run), "--front", "0"]) == 2
    assert "holds no float_model" in capsys.readouterr().err


def _rodata_bytes(obj) -> int:
    """Bytes of every ``.rodata*`` section of an object file (``arm-none-eabi-size -A``)."""
    out = subprocess.run(["arm-none-eabi-size", "-A", str(obj)], capture_output=True, text=True, check=True).stdout
    return sum(int(line.split()[1]) for line in out.splitlines() if line.startswith(".rodata"))


@needs_arm
@pytest.mark.parametrize("stack,hidden", [("gru", 7), ("lstm+sru", [6, 5])])
def test_flash_bytes_objective_equals_the_compiled_constants(stack, hidden, mnist_splits, tmp_path):
    """The ``flash_bytes`` objective, computed from the genome alone, is the compiled dense
    export's constant data byte for byte (narrow and wide datapaths, packed widths)."""
    import jax

    from jaxgru.model.costs import cost_model, flash_bytes

    s, p, r = _model(stack, hidden, mnist_splits)
    model = cost_model(s, N_IN, hidden, 10, 28)
    rng = np.random.default_rng(5)
    for wide in (False, True):
        for i, g in enumerate(_genomes(s, rng, wide)):
            g = np.where(np.arange(s.n_ops) % 3 == 0, rng.integers(2, 8), g).astype(np.int32)  # packed ones too
            a = export_arrays(p, r, g)
            d = tmp_path / f"{int(wide)}{i}"
            tc.write_harness(d, a, Reference(a).quantize_input(mnist_splits.x_val[:1, :, :N_IN]))
            obj = d / "model.o"
            subprocess.run([tc.ARM_GCC, *tc._arm_flags("cortex-m4"), "-c", str(d / "model.c"), "-o", str(obj)],
                           check=True)
            with jax.enable_x64(True):
                want = float(flash_bytes(jax.tree.map(np.asarray, model), np.asarray(g)))
            assert want == _rodata_bytes(obj), (g.tolist(), want, _rodata_bytes(obj))


@needs_arm
def test_mcu_instructions_objective_predicts_the_measured_count(mnist_splits, tmp_path):
    """The fitted instruction model on a cell and shape it was not fitted to (a LiGRU, 27 inputs,
    24 units), narrow and wide genomes: within 30% of QEMU's count per step, and ranks those more
    than 10% apart."""
    import jax

    from jaxgru.model.costs import cost_model, mcu_instructions

    s, p, r = _model("ligru", 24, mnist_splits)
    model = cost_model(s, N_IN, 24, 10, 28)
    x = np.concatenate([mnist_splits.x_val[:1, :, :N_IN]] * 2)
    lengths = np.array([28, 1])
    measured, predicted = [], []
    for g in (np.full(s.n_ops, 8), np.full(s.n_ops, 3), np.arange(s.n_ops) % 7 + 2, np.arange(s.n_ops) % 15 + 2):
        g = g.astype(np.int32)
        a = export_arrays(p, r, g)
        out = tc.run_on_qemu(tc.build_cortex_m(tc.write_harness(tmp_path / str(len(measured)), a,
                                                                Reference(a).quantize_input(x), lengths)))
        measured.append(tc.INSTRUCTIONS_PER_TICK * (out.ticks[0] - out.ticks[1]) / 27)
        with jax.enable_x64(True):
            predicted.append(float(mcu_instructions(jax.tree.map(np.asarray, model), np.asarray(g))))
    rel = np.abs(np.array(predicted) / np.array(measured) - 1)
    assert rel.max() < 0.3, (measured, predicted)
    for i in range(len(measured)):  # ranks them, where they lie further apart than the model's error
        for j in range(len(measured)):
            if measured[j] > 1.1 * measured[i]:
                assert predicted[j] > predicted[i], (measured, predicted)
