"""SRU (Lei et al. 2018): the forget and reset gates read the previous ``c`` through per-unit
weight vectors; no matrix product on the state, so every matmul depends on the input alone.

The highway input ``x'`` is always a projection ``W_p x`` (Lei et al. use ``x`` itself when the
input and hidden widths match; with a projection one declaration serves every width)."""

from jaxgru.cells.declaration import Cell, Op

CELL = Cell(
    name="sru",
    states=("c",),
    ops=(
        Op("xt", "linear", ("x",)),     # x~ = W x
        Op("xf", "linear", ("x",)),     # W_f x + b_f
        Op("xr", "linear", ("x",)),     # W_r x + b_r
        Op("xp", "linear", ("x",)),     # x' = W_p x
        Op("vfc", "scale", ("c",)),     # v_f * c (the previous c)
        Op("fp", "add", ("xf", "vfc")),
        Op("f", "sigmoid", ("fp",)),
        Op("vrc", "scale", ("c",)),     # v_r * c (the previous c)
        Op("rp", "add", ("xr", "vrc")),
        Op("r", "sigmoid", ("rp",)),
        Op("fc", "mul", ("f", "c")),
        Op("omf", "sub1", ("f",)),
        Op("fx", "mul", ("omf", "xt")),
        Op("c", "add", ("fc", "fx")),   # the new c
        Op("tc", "tanh", ("c",)),
        Op("rt", "mul", ("r", "tc")),
        Op("omr", "sub1", ("r",)),
        Op("rx", "mul", ("omr", "xp")),
        Op("h", "add", ("rt", "rx")),
    ),
    output="h",
    doc="c' = f*c + (1 - f)*W x, h' = r*tanh(c') + (1 - r)*W_p x; 19 operators",
)
