"""LSTM with PyTorch's equations: gates i, f, g, o; ``c' = f*c + i*g``, ``h' = o * tanh(c')``."""

from jaxgru.cells.declaration import Cell, Op

CELL = Cell(
    name="lstm",
    states=("h", "c"),
    ops=(
        Op("xi", "linear", ("x",)),
        Op("hi", "linear", ("h",)),
        Op("xf", "linear", ("x",)),
        Op("hf", "linear", ("h",)),
        Op("xg", "linear", ("x",)),
        Op("hg", "linear", ("h",)),
        Op("xo", "linear", ("x",)),
        Op("ho", "linear", ("h",)),
        Op("ip", "add", ("xi", "hi")),
        Op("i", "sigmoid", ("ip",)),
        Op("fp", "add", ("xf", "hf")),
        Op("f", "sigmoid", ("fp",)),
        Op("gp", "add", ("xg", "hg")),
        Op("g", "tanh", ("gp",)),
        Op("op", "add", ("xo", "ho")),
        Op("o", "sigmoid", ("op",)),
        Op("fc", "mul", ("f", "c")),    # the previous c
        Op("ig", "mul", ("i", "g")),
        Op("c", "add", ("fc", "ig")),   # the new c
        Op("tc", "tanh", ("c",)),
        Op("h", "mul", ("o", "tc")),
    ),
    output="h",
    doc="c' = f*c + i*g, h' = o*tanh(c'); 21 operators",
)
