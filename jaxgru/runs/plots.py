"""Figures of a search run: Pareto fronts and the search's history."""

from __future__ import annotations

import os

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402

from jaxgru.files import save_figure  # noqa: E402


def _staircase(ax, size, acc, **kw):
    order = np.argsort(size)
    ax.step(np.asarray(size)[order], np.asarray(acc)[order], where="post", **kw)


def plot_pareto(path: str | os.PathLike, *, evaluated: dict, front: list[dict], baseline: list[dict], title: str):
    """Accuracy against size ratio: every evaluated genome, the mixed front, the homogeneous ones."""
    fig, ax = plt.subplots(figsize=(6.4, 4.6))
    ax.scatter(evaluated["size_ratio"], evaluated["accuracy"], s=8, c=evaluated["generation"], cmap="viridis",
               alpha=0.5, label="evaluated (colour: generation)")
    fs = [f["size_ratio"] for f in front]
    fa = [f["accuracy"] for f in front]
    _staircase(ax, fs, fa, color="C3", lw=1.5)
    ax.scatter(fs, fa, color="C3", s=24, zorder=3, label="mixed-precision front")
    bs = [b["size_ratio"] for b in baseline]
    ba = [b["accuracy"] for b in baseline]
    _staircase(ax, bs, ba, color="k", lw=1, ls="--")
    ax.scatter(bs, ba, color="k", marker="s", s=24, zorder=3, label="homogeneous")
    for b in baseline:
        ax.annotate(f"{b['bits'][0]}b", (b["size_ratio"], b["accuracy"]), textcoords="offset points",
                    xytext=(4, -10), fontsize=7)
    ax.set_xlabel("model size / 16-bit model size")
    ax.set_ylabel("validation accuracy")
    ax.set_title(title, fontsize=10)
    ax.grid(alpha=0.3)
    ax.legend(fontsize=8, loc="lower right")
    save_figure(fig, path)
    plt.close(fig)


def plot_history(path: str | os.PathLike, history: list[dict], title: str):
    """Hypervolume and best accuracy per generation."""
    g = [h["generation"] for h in history]
    fig, ax = plt.subplots(figsize=(6.4, 3.6))
    ax.plot(g, [h["hypervolume"] for h in history], "o-", color="C0", label="hypervolume")
    ax.set_xlabel("generation")
    ax.set_ylabel("hypervolume", color="C0")
    ax2 = ax.twinx()
    ax2.plot(g, [h["best_accuracy"] for h in history], "s--", color="C1", label="best accuracy")
    ax2.set_ylabel("best validation accuracy", color="C1")
    ax.set_title(title, fontsize=10)
    ax.grid(alpha=0.3)
    save_figure(fig, path)
    plt.close(fig)


LABELS = {"size_ratio": "model size / 16-bit model size", "memory": "parameter memory (bytes)",
          "bitops": "bit-operations per sequence", "silago_speedup": "SiLago speed-up over 16 bits",
          "silago_energy": "SiLago energy per sequence (uJ)", "bitfusion_speedup": "Bitfusion speed-up over 16 bits",
          "eliminated_ops": "share of MACs eliminated (deltas)", "flash_bytes": "constants in flash (bytes)",
          "mcu_instructions": "Cortex-M4 instructions per step (model)"}


def plot_projections(path: str | os.PathLike, costs: list[str], *, evaluated: dict, front: list[dict],
                     baseline: list[dict], title: str):
    """A front of several objectives as its pairwise projections: accuracy against each cost,
    then each pair of costs; every evaluated genome, the front, the homogeneous models."""
    axes_pairs = [(c, "accuracy") for c in costs] + [(a, b) for i, a in enumerate(costs) for b in costs[i + 1:]]
    n = len(axes_pairs)
    cols = min(n, 3)
    rows = -(-n // cols)
    fig, axs = plt.subplots(rows, cols, figsize=(4.4 * cols, 3.6 * rows), squeeze=False)
    for ax, (xk, yk) in zip(axs.ravel(), axes_pairs):
        ax.scatter(evaluated[xk], evaluated[yk], s=6, c=evaluated["generation"], cmap="viridis", alpha=0.4)
        ax.scatter([f[xk] for f in front], [f[yk] for f in front], color="C3", s=18, zorder=3, label="front")
        ax.scatter([b[xk] for b in baseline], [b[yk] for b in baseline], color="k", marker="s", s=20, zorder=3,
                   label="homogeneous")
        for b in baseline:
            ax.annotate(f"{b['bits'][0]}b", (b[xk], b[yk]), textcoords="offset points", xytext=(4, -10), fontsize=7)
        ax.set_xlabel(LABELS.get(xk, xk), fontsize=8)
        ax.set_ylabel("validation accuracy" if yk == "accuracy" else LABELS.get(yk, yk), fontsize=8)
        ax.grid(alpha=0.3)
    for ax in axs.ravel()[n:]:
        ax.axis("off")
    axs.ravel()[0].legend(fontsize=7, loc="lower right")
    fig.suptitle(title, fontsize=10)
    fig.tight_layout()
    save_figure(fig, path)
    plt.close(fig)
