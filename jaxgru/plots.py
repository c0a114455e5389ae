"""Figures of a search run: Pareto fronts and the search's history."""

from __future__ import annotations

import os

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402

from jaxgru.io import save_figure  # noqa: E402


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
    ax.scatter(bs, ba, color="k", marker="s", s=24, zorder=3, label="homogeneous 2..8 bits")
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
