"""Light GRU (Ravanelli et al. 2018): an update gate and a ReLU candidate, no reset gate.

Trained here without batch normalization (so there is nothing to fold before quantization)."""

from jaxgru.cells.declaration import Cell, Op

CELL = Cell(
    name="ligru",
    states=("h",),
    ops=(
        Op("xz", "linear", ("x",)),
        Op("hz", "linear", ("h",)),
        Op("xc", "linear", ("x",)),
        Op("hc", "linear", ("h",)),
        Op("zp", "add", ("xz", "hz")),
        Op("z", "sigmoid", ("zp",)),
        Op("cp", "add", ("xc", "hc")),
        Op("cand", "relu", ("cp",)),
        Op("zh", "mul", ("z", "h")),    # the previous h
        Op("omz", "sub1", ("z",)),
        Op("a", "mul", ("omz", "cand")),
        Op("h", "add", ("zh", "a")),    # the new h
    ),
    output="h",
    doc="h' = z*h + (1 - z)*ReLU(W_c x + U_c h); 12 operators",
)
