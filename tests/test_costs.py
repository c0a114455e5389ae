"""Every cost objective by hand on a small declared cell, and how the GRU's are read off its
declaration."""

import numpy as np
import pytest

from jaxgru.cells import get_cell
from jaxgru.cells.declaration import Cell, Op
from jaxgru.model.costs import check_objectives, cost_model, normalized, population_costs
from jaxgru.model.counts import model_size

# n_in 3, hidden 2, 2 classes, 5 steps; input at 8 bits, head at 4.
TOY = Cell("toy_costs", ("h",), (
    Op("xa", "linear", ("x",)),     # 0: 3*2 weights + 2 biases = 8 params, 6 MACs per step
    Op("ha", "linear", ("h",)),     # 1: 2*2 + 2 = 6 params, 4 MACs
    Op("s", "add", ("xa", "ha")),   # 2
    Op("g", "sigmoid", ("s",)),     # 3
    Op("vh", "scale", ("h",)),      # 4: 2 params, 2 MACs
    Op("m", "mul", ("g", "vh")),    # 5: 2 MACs
    Op("h", "add", ("m", "xa")),    # 6
), "h")
GENOME = np.array([[2, 4, 8, 8, 16, 3, 5]], np.int32)
# Per sequence: MACs xa 30, ha 20, vh 10, m 10, head 4 (2*2, once): 74 in all. Operand widths:
# xa (2, input 8), ha (4, h 5), vh (16, h 5), m (g 8, vh 16), head (4, h 5).


@pytest.fixture
def model():
    return cost_model(TOY, n_in=3, hidden=2, n_classes=2, steps=5, input_bits=8, head_bits=4)


def test_each_cost_by_hand(model):
    c = {k: v[0] for k, v in population_costs(model, GENOME, TOY).items()}
    assert c["size"] == 8 * 2 + 6 * 4 + 2 * 16 + 6 * 4  # owned params at their owner's width; head 6 at 4
    assert c["memory"] == 96 / 8
    assert c["bitops"] == 30 * 2 * 8 + 20 * 4 * 5 + 10 * 16 * 5 + 10 * 8 * 16 + 4 * 4 * 5
    # SiLago modes: xa max(2, 8) -> 8, ha 5 -> 8, vh 16, m 16, head 5 -> 8; speed-up 16 / mode.
    assert c["silago_speedup"] == pytest.approx((30 * 2 + 20 * 2 + 10 * 1 + 10 * 1 + 4 * 2) / 74, rel=1e-12)
    reads = 8 * 5 * 2 + 6 * 5 * 4 + 2 * 5 * 16 + 6 * 4  # bits read per sequence: cell every step, head once
    macs = 30 * 1.084 / 2 + 20 * 1.084 / 2 + 10 * 1.666 + 10 * 1.666 + 4 * 1.084 / 2
    assert c["silago_energy"] == pytest.approx((0.08 * reads + macs) * 1e-6, rel=1e-12)
    # Bitfusion: widths up to powers of two; xa 2*8 = 16 -> 16x, ha 4*8 -> 8x, vh 16*8 -> 2x,
    # m 8*16 -> 2x, head 4*8 -> 8x.
    assert c["bitfusion_speedup"] == pytest.approx((30 * 16 + 20 * 8 + 10 * 2 + 10 * 2 + 4 * 8) / 74, rel=1e-12)


def test_bitfusion_table_and_silago_modes_at_the_extremes(model):
    all2 = population_costs(model.replace(input_bits=2, head_bits=2), np.full((1, 7), 2, np.int32), TOY)
    assert all2["bitfusion_speedup"][0] == 64  # 2 x 2 = 4 <= 4: the table's top
    assert all2["silago_speedup"][0] == 4  # 2 bits run in SiLago's 4-bit mode
    all16 = population_costs(model.replace(input_bits=16, head_bits=16), np.full((1, 7), 16, np.int32), TOY)
    assert all16["bitfusion_speedup"][0] == 1 and all16["silago_speedup"][0] == 1


def test_normalized_to_the_16_bit_model(model):
    c = population_costs(model, GENOME, TOY)
    n = normalized(model, c, TOY)
    assert n["size"][0] == pytest.approx(96 / (22 * 16))
    assert n["silago_speedup"][0] == pytest.approx(74 / 128)  # 1 / speed-up: smaller is better
    assert n["bitfusion_speedup"][0] == pytest.approx(74 / 712)


def test_gru_costs_follow_its_declaration():
    gru = get_cell("gru")
    m = cost_model(gru, n_in=28, hidden=8, n_classes=10, steps=28)
    names = gru.op_names
    pairs = {names[k]: (int(a), int(b)) for k, (a, b) in enumerate(zip(m.a[:-1], m.b[:-1]))}
    assert pairs["hn"] == (gru.index("hn"), gru.index("h")) and pairs["xr"] == (gru.index("xr"), gru.n_ops)
    assert pairs["rh"] == (gru.index("r"), gru.index("hn")) and pairs["b"] == (gru.index("z"), gru.index("h"))
    genomes = np.random.default_rng(0).integers(2, 9, (20, 17)).astype(np.int32)
    size_ratio = normalized(m, population_costs(m, genomes, gru, ("size",)), gru)["size"]
    np.testing.assert_allclose(size_ratio, 1 - model_size(genomes, gru, 28, 8, 10)[1], rtol=1e-12)
    macs = m.macs[:-1] / 28
    assert macs[gru.index("xr")] == 28 * 8 and macs[gru.index("rh")] == 8 and macs[gru.index("h")] == 0


def test_objectives_are_checked():
    assert check_objectives("error,bitfusion_speedup,memory") == ("error", "bitfusion_speedup", "memory")
    with pytest.raises(ValueError, match="unknown objective"):
        check_objectives("error,speed")
    with pytest.raises(ValueError, match="start with error"):
        check_objectives("size,error")
    with pytest.raises(ValueError, match="start with error"):
        check_objectives("error")
