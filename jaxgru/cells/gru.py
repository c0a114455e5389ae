"""GRU (Cho et al. 2014, PyTorch's gate order r, z, n; the reset gate acts on ``W_hn h + b_hn``)."""

from jaxgru.cells.declaration import Cell, Op

CELL = Cell(
    name="gru",
    states=("h",),
    ops=(
        Op("xr", "linear", ("x",)),   # 0
        Op("hr", "linear", ("h",)),   # 1
        Op("xz", "linear", ("x",)),   # 2
        Op("hz", "linear", ("h",)),   # 3
        Op("xn", "linear", ("x",)),   # 4
        Op("hn", "linear", ("h",)),   # 5
        Op("rp", "add", ("xr", "hr")),  # 6
        Op("r", "sigmoid", ("rp",)),    # 7
        Op("zp", "add", ("xz", "hz")),  # 8
        Op("z", "sigmoid", ("zp",)),    # 9
        Op("rh", "mul", ("r", "hn")),   # 10
        Op("np", "add", ("xn", "rh")),  # 11
        Op("n", "tanh", ("np",)),       # 12
        Op("omz", "sub1", ("z",)),      # 13
        Op("a", "mul", ("omz", "n")),   # 14
        Op("b", "mul", ("z", "h")),     # 15: the previous h
        Op("h", "add", ("a", "b")),     # 16: the new h
    ),
    output="h",
    doc="h' = (1 - z) * tanh(W_n x + r * (U_n h)) + z * h; 17 operators",
)
