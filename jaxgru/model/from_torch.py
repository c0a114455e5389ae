"""A model trained in PyTorch brought in: ``torch.nn.GRU`` or ``torch.nn.LSTM`` and a final
``torch.nn.Linear``, as jaxgru's float weights (:class:`~jaxgru.model.floating.ModelParams`).

PyTorch's GRU is the reset-after form jaxgru declares (``n = tanh(W_in x + b_in + r * (W_hn h +
b_hn))``) and both cells stack their gates in jaxgru's order (GRU ``r, z, n``; LSTM ``i, f, g,
o``), so layer ``l``'s weights map one to one, transposed to jaxgru's ``[in, out]`` kernels:

| PyTorch                 | jaxgru (layer prefix ``l<l>.`` when several) |
| ----------------------- | -------------------------------------------- |
| ``weight_ih_l<l> [kH, I]`` | ``wx [I, kH]`` (``= weight_ih.T``)        |
| ``bias_ih_l<l> [kH]``      | ``bx [kH]``                               |
| ``weight_hh_l<l> [kH, H]`` | ``wh [H, kH]`` (``= weight_hh.T``)        |
| ``bias_hh_l<l> [kH]``      | ``bh [kH]``                               |
| ``Linear.weight [C, H]``   | ``wd [H, C]``; ``Linear.bias`` -> ``bd``  |

``k`` is 3 for the GRU, 4 for the LSTM; both biases are kept (the GRU's ``b_hn`` sits inside the
reset gate's product, so it cannot be folded into ``b_in``). A model built with ``bias=False``
has zero biases. ``batch_first`` changes only how inputs are laid out, not the weights.
Bidirectional layers and LSTM projections (``proj_size``) have no jaxgru counterpart and are
refused. PyTorch itself is needed only to read its files (an optional extra: ``pip install
'jaxgru[torch]'``); a ``state_dict`` of NumPy arrays maps without it.
"""

from __future__ import annotations

import os
import re
from collections.abc import Mapping
from pathlib import Path

import numpy as np

from jaxgru.cells import Stack
from jaxgru.model.floating import ModelParams, check_params

GATES = {3: "gru", 4: "lstm"}  # gate blocks per layer -> the cell
_RNN_KEY = re.compile(r"^(?P<prefix>.*?)(?P<name>weight|bias)_(?P<kind>ih|hh|hr)_l(?P<layer>\d+)(?P<rev>_reverse)?$")


def _to_numpy(value) -> np.ndarray:
    if hasattr(value, "detach"):  # a torch.Tensor
        value = value.detach().cpu().float().numpy()
    return np.asarray(value, np.float32)


def read_torch_file(path: str | os.PathLike) -> dict[str, np.ndarray]:
    """The ``state_dict`` in ``path``: a saved ``state_dict``, a whole ``nn.Module`` saved with
    ``torch.save``, or a TorchScript module (``torch.jit.save``)."""
    try:
        import torch
    except ImportError:
        raise ValueError("reading a PyTorch file needs PyTorch: pip install 'jaxgru[torch]'.") from None
    path = Path(path)
    if not path.is_file():
        raise ValueError(f"PyTorch model file {path} does not exist.")
    try:
        obj = torch.jit.load(str(path), map_location="cpu")  # TorchScript
    except Exception:  # not TorchScript: a pickled state_dict or module
        try:
            obj = torch.load(str(path), map_location="cpu", weights_only=False)
        except Exception as err:
            raise ValueError(f"cannot read {path} as a PyTorch state_dict, whole model or TorchScript file: "
                             f"{type(err).__name__}: {err}") from None
    if hasattr(obj, "state_dict"):
        obj = obj.state_dict()
    if not isinstance(obj, Mapping):
        raise ValueError(f"{path} holds a {type(obj).__name__}, not a state_dict or a model.")
    return {k: _to_numpy(v) for k, v in obj.items()}


def import_torch(model, *, where: str = "the PyTorch model") -> ModelParams:
    """jaxgru's float weights of a PyTorch classifier: ``model`` is an ``nn.Module`` (one
    ``nn.GRU`` or ``nn.LSTM``, any ``num_layers``, then one ``nn.Linear``), its ``state_dict``
    (tensors or arrays), or the path of a file holding either (:func:`read_torch_file`).

    The cell comes from the gate blocks (3: GRU, 4: LSTM), the layers and widths from the shapes;
    anything jaxgru cannot represent is refused in one line naming it."""
    if isinstance(model, (str, os.PathLike)):
        where = str(model)
        state = read_torch_file(model)
    else:
        state = model.state_dict() if hasattr(model, "state_dict") else model
        state = {k: _to_numpy(v) for k, v in state.items()}
    rnn = {k: m for k in state if (m := _RNN_KEY.match(k))}
    if not rnn:
        raise ValueError(f"{where} has no nn.GRU or nn.LSTM weights (weight_ih_l0, ...); jaxgru imports one "
                         "recurrent module followed by one nn.Linear.")
    prefixes = {m["prefix"] for m in rnn.values()}
    if len(prefixes) > 1:
        raise ValueError(f"{where} has several recurrent modules ({sorted(p.rstrip('.') for p in prefixes)}); "
                         "jaxgru imports one (use its num_layers for a stack).")
    if any(m["rev"] for m in rnn.values()):
        raise ValueError(f"{where} is bidirectional; jaxgru runs one direction only (bidirectional=False).")
    if any(m["kind"] == "hr" for m in rnn.values()):
        raise ValueError(f"{where} is an LSTM with projections (proj_size > 0), which jaxgru does not declare.")
    (prefix,) = prefixes
    layers = 1 + max(int(m["layer"]) for m in rnn.values())
    head = {k: v for k, v in state.items() if k not in rnn}
    weights = [k for k, v in head.items() if k.endswith("weight") and v.ndim == 2]
    if len(weights) != 1:
        raise ValueError(f"{where} has {len(weights)} dense weight matrices besides the recurrent module "
                         f"({weights}); jaxgru imports exactly one final nn.Linear as the head.")
    head_w = head[weights[0]]
    head_b = head.get(weights[0][: -len("weight")] + "bias", np.zeros(head_w.shape[0], np.float32))

    arrays: dict[str, np.ndarray] = {}
    cells = []
    n_in = None
    for layer in range(layers):
        w_ih, w_hh = (state.get(f"{prefix}weight_{k}_l{layer}") for k in ("ih", "hh"))
        if w_ih is None or w_hh is None:
            raise ValueError(f"{where} lacks weight_ih_l{layer} or weight_hh_l{layer}.")
        rows, hidden = w_hh.shape
        if rows % hidden or rows // hidden not in GATES:
            raise ValueError(f"{where}: weight_hh_l{layer} is {w_hh.shape}, not the 3H x H of a GRU or the 4H x H "
                             "of an LSTM.")
        cells.append(GATES[rows // hidden])
        n_in = w_ih.shape[1] if layer == 0 else n_in
        pre = "" if layers == 1 else f"l{layer}."
        arrays[pre + "wx"], arrays[pre + "wh"] = w_ih.T.copy(), w_hh.T.copy()
        for kind, src in (("ih", "x"), ("hh", "h")):  # bias=False: zeros
            arrays[f"{pre}b{src}"] = state.get(f"{prefix}bias_{kind}_l{layer}", np.zeros(rows, np.float32))
    arrays["wd"], arrays["bd"] = head_w.T.copy(), np.asarray(head_b, np.float32)
    params = ModelParams(arrays=arrays, stack=Stack.of("+".join(cells)))
    try:
        return check_params(params)
    except ValueError as err:
        raise ValueError(f"{where} does not form a {params.stack.name} classifier: {err}") from None
