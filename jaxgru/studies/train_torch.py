"""A model trained outside jaxgru, as a PyTorch user trains it: ``nn.GRU`` (or ``nn.LSTM``) with
``num_layers`` layers and a final ``nn.Linear``, on one of jaxgru's tasks, saved as a
``state_dict`` for ``experiments/run.py --torch-model``.

Nothing here is jaxgru's own model code: the network, its loss and its optimizer are PyTorch's;
jaxgru only supplies the data (its task loaders). Needs the torch extra.
"""

from __future__ import annotations

import argparse
import io
import sys
from pathlib import Path

import numpy as np

from jaxgru.data.tasks import get_task
from jaxgru.files import atomic_write_bytes
from jaxgru.runs.config import Config, RunOptions, add_arguments, command_line_message


def train(task: str, kind: str, layers: int, hidden: int, *, epochs: int, train_size: int | None, seed: int,
          data_dir: str | None, log=print):
    """Trains the PyTorch classifier; returns it and its validation accuracy (its own forward)."""
    import torch
    from torch import nn

    class Classifier(nn.Module):
        def __init__(self, n_in: int, classes: int):
            super().__init__()
            self.rnn = getattr(nn, kind.upper())(n_in, hidden, num_layers=layers, batch_first=True)
            self.fc = nn.Linear(hidden, classes)

        def forward(self, x):
            out, _ = self.rnn(x)
            return self.fc(out[:, -1])

    t = get_task(task)
    splits = t.load(data_dir)
    if any(splits.lengths(s) is not None for s in ("train", "val")):
        raise ValueError(f"{task} has variable lengths; this example trains on full sequences only.")
    torch.manual_seed(seed)
    model = Classifier(t.features, t.classes)
    opt = torch.optim.Adam(model.parameters(), lr=5e-3)
    x, y = splits.x_train[:train_size], splits.y_train[:train_size]
    rng = np.random.default_rng(seed)
    for epoch in range(epochs):
        order, losses = rng.permutation(len(x)), []
        for i in range(0, len(x) - 127, 128):
            idx = order[i : i + 128]
            loss = nn.functional.cross_entropy(model(torch.from_numpy(x[idx])), torch.from_numpy(y[idx]).long())
            opt.zero_grad()
            loss.backward()
            nn.utils.clip_grad_norm_(model.parameters(), 1.0)
            opt.step()
            losses.append(float(loss))
        log(f"epoch {epoch + 1}/{epochs}: loss {np.mean(losses):.4f}")
    with torch.no_grad():
        pred = model(torch.from_numpy(splits.x_val)).argmax(1).numpy()
    return model.eval(), float(np.mean(pred == splits.y_val))


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.ArgumentDefaultsHelpFormatter)
    add_arguments(ap, Config, only=("task", "layers", "seed", "train_size"))
    ap.add_argument("--kind", choices=["gru", "lstm"], default="gru", help="the PyTorch module")
    ap.add_argument("--hidden", type=int, default=64, help="hidden units of every layer")
    ap.add_argument("--epochs", type=int, default=3, help="training epochs")
    ap.add_argument("--out", default="runs/torch_model.pt", help="where the state_dict is written")
    add_arguments(ap, RunOptions, only=("data_dir",))
    args = ap.parse_args(argv)
    try:
        import torch
    except ImportError:
        print("error: this example needs PyTorch: pip install 'jaxgru[torch]'", file=sys.stderr)
        return 2
    try:
        model, acc = train(args.task, args.kind, args.layers, args.hidden, epochs=args.epochs,
                           train_size=args.train_size, seed=args.seed, data_dir=args.data_dir)
    except (ValueError, OSError) as err:
        print(f"error: {command_line_message(str(err))}", file=sys.stderr)
        return 2
    buf = io.BytesIO()
    torch.save(model.state_dict(), buf)
    path = atomic_write_bytes(Path(args.out), buf.getvalue())
    print(f"PyTorch {args.layers}-layer {args.kind.upper()}({args.hidden}) on {args.task}: validation accuracy "
          f"{acc:.4f}; state_dict written to {path}")
    return 0
