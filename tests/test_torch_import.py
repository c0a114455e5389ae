"""A model trained in PyTorch brought in: its logits are PyTorch's own forward, for GRU and LSTM
stacks of 1-3 layers at odd widths, batch_first either way, with and without lengths; every
file form PyTorch saves; and what jaxgru cannot represent is refused in one line."""

from __future__ import annotations

import jax.numpy as jnp
import numpy as np
import pytest

torch = pytest.importorskip("torch")  # the torch extra
from torch import nn  # noqa: E402

from jaxgru.model.floating import float_logits  # noqa: E402
from jaxgru.model.from_torch import import_torch  # noqa: E402

N_IN, CLASSES = 5, 3


class Classifier(nn.Module):
    """What a PyTorch user writes: a recurrent module, then a linear head on the last step."""

    def __init__(self, kind: str, hidden: int, layers: int, batch_first: bool = True, **rnn):
        super().__init__()
        self.batch_first = batch_first
        self.rnn = getattr(nn, kind)(N_IN, hidden, num_layers=layers, batch_first=batch_first, **rnn)
        self.fc = nn.Linear(hidden, CLASSES)

    def forward(self, x, lengths=None):  # x: [B, T, I]
        if lengths is not None:
            packed = nn.utils.rnn.pack_padded_sequence(x, lengths, batch_first=True, enforce_sorted=False)
            _, state = self.rnn(packed)
            h = (state[0] if isinstance(state, tuple) else state)[-1]  # the top layer at each sequence's end
            return self.fc(h)
        out, _ = self.rnn(x if self.batch_first else x.transpose(0, 1))
        return self.fc(out[:, -1] if self.batch_first else out[-1])


def _inputs(seed=0, batch=6, steps=9):
    rng = np.random.default_rng(seed)
    return rng.normal(0, 1, (batch, steps, N_IN)).astype(np.float32)


@pytest.mark.parametrize("kind", ["GRU", "LSTM"])
@pytest.mark.parametrize("layers,hidden", [(1, 7), (2, 9), (3, 5)])
@pytest.mark.parametrize("batch_first", [True, False])
def test_imported_logits_equal_pytorch(kind, layers, hidden, batch_first):
    torch.manual_seed(layers * 10 + hidden)
    model = Classifier(kind, hidden, layers, batch_first).eval()
    x = _inputs(layers)
    with torch.no_grad():
        want = model(torch.from_numpy(x)).numpy()
    p = import_torch(model)
    assert p.stack.layers == layers and p.stack.cells[0].name == kind.lower() and p.hidden == (hidden,) * layers
    np.testing.assert_allclose(np.asarray(float_logits(p, jnp.asarray(x))), want, rtol=1e-5, atol=1e-5)


@pytest.mark.parametrize("kind", ["GRU", "LSTM"])
def test_lengths_are_pytorchs_packed_sequences(kind):
    """Each sequence stops at its length: PyTorch's packed sequences give the same logits."""
    torch.manual_seed(1)
    model = Classifier(kind, 6, 2).eval()
    x = _inputs(2, batch=8, steps=11)
    lengths = np.array([11, 1, 5, 8, 3, 11, 2, 7])
    with torch.no_grad():
        want = model(torch.from_numpy(x), torch.from_numpy(lengths)).numpy()
    got = float_logits(import_torch(model), jnp.asarray(x), jnp.asarray(lengths, jnp.int32))
    np.testing.assert_allclose(np.asarray(got), want, rtol=1e-5, atol=1e-5)


def test_every_file_form_and_bias_false(tmp_path):
    torch.manual_seed(2)
    model = Classifier("GRU", 4, 2, bias=False).eval()
    x = _inputs(3)
    with torch.no_grad():
        want = model(torch.from_numpy(x)).numpy()
    torch.save(model.state_dict(), tmp_path / "state.pt")
    torch.save(model, tmp_path / "whole.pt")
    torch.jit.save(torch.jit.trace(model, torch.from_numpy(x)), tmp_path / "script.pt")
    for name in ("state.pt", "whole.pt", "script.pt"):
        p = import_torch(tmp_path / name)
        np.testing.assert_allclose(np.asarray(float_logits(p, jnp.asarray(x))), want, rtol=1e-5, atol=1e-5)
    assert not np.asarray(p["l0.bx"]).any()  # bias=False: zero biases


@pytest.mark.parametrize("make,match", [
    (lambda: Classifier("GRU", 4, 1, bidirectional=True), "bidirectional"),
    (lambda: Classifier("LSTM", 4, 1, proj_size=2), "projections"),
    (lambda: nn.Sequential(nn.Linear(5, 4), nn.Linear(4, 3)), "no nn.GRU or nn.LSTM"),
])
def test_what_jaxgru_cannot_represent_is_refused(make, match):
    with pytest.raises(ValueError, match=match):
        import_torch(make())


def test_a_second_dense_layer_or_a_head_of_the_wrong_width_is_refused():
    m = Classifier("GRU", 4, 1)
    m.extra = nn.Linear(3, 3)
    with pytest.raises(ValueError, match="2 dense weight matrices"):
        import_torch(m)
    state = Classifier("GRU", 4, 1).state_dict()
    state["fc.weight"] = torch.zeros(3, 6)
    with pytest.raises(ValueError, match="does not form a gru classifier"):
        import_torch(state)
