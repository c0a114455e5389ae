"""Beacon-based search (MOHAQ): retrain a few genomes, and let every other candidate borrow the
retrained weights of its nearest one.

A *beacon* is a genome whose float weights were fine-tuned by QAT at its own widths. A candidate
is scored twice, with the float model (PTQ) and with its nearest beacon's weights re-quantized
to the candidate's own genome (one population call each), and keeps the better accuracy. Distance is
L1 over gene *indices* into the width set (MOHAQ measures it over its width codes the same
way). A candidate farther than ``threshold`` from every beacon may become a new one: the
farthest-out candidates are taken greedily, best PTQ accuracy first, at most ``limit`` per
generation, each new beacon counting for the rest. ``docs/design.md`` ("Beacon-based search").
"""

from __future__ import annotations

import io
from dataclasses import dataclass, field
from pathlib import Path

import jax
import numpy as np

from jaxgru.files import DamagedStateError, atomic_write_bytes, check_digest, with_digest
from jaxgru.model.floating import ModelParams


def l1_distances(genes: np.ndarray, beacons: np.ndarray) -> np.ndarray:
    """``int[P, B]``: L1 distance between every candidate and every beacon (gene indices)."""
    return np.abs(genes[:, None, :].astype(np.int64) - beacons[None, :, :]).sum(-1)


def nearest_beacon(genes: np.ndarray, beacons: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Index of each candidate's nearest beacon (the earliest made, on a tie) and its distance;
    ``(-1, inf)`` for every candidate when there is no beacon yet."""
    if len(beacons) == 0:
        return np.full(len(genes), -1), np.full(len(genes), np.inf)
    d = l1_distances(genes, beacons)
    idx = d.argmin(1)
    return idx, d[np.arange(len(genes)), idx].astype(np.float64)


def pick_new_beacons(genes: np.ndarray, ptq_error: np.ndarray, beacons: np.ndarray, threshold: int,
                     limit: int) -> list[int]:
    """Candidates (indices into ``genes``) that become beacons: in order of PTQ error (the
    earlier on a tie), each one farther than ``threshold`` from every beacon so far, the ones
    picked here included; at most ``limit``."""
    chosen: list[int] = []
    current = beacons.reshape(-1, genes.shape[1])
    for i in np.argsort(ptq_error, kind="stable"):
        if len(chosen) == limit:
            break
        if len(current) == 0 or l1_distances(genes[i : i + 1], current).min() > threshold:
            chosen.append(int(i))
            current = np.concatenate([current, genes[i : i + 1]])
    return chosen


@dataclass
class Beacons:
    """The beacons so far: ``genes int32[B, D]`` (indices into the width set), the generation
    that made each, their validation accuracy before (PTQ) and after QAT, and their fine-tuned
    weights (every leaf ``[B, ...]``; ``None`` when B = 0)."""

    genes: np.ndarray
    generation: np.ndarray
    ptq_accuracy: np.ndarray
    qat_accuracy: np.ndarray
    weights: ModelParams | None = None
    path: Path | None = field(default=None, repr=False)

    @classmethod
    def empty(cls, num_dims: int, path: Path | None = None) -> Beacons:
        return cls(np.zeros((0, num_dims), np.int32), np.zeros(0, np.int32), np.zeros(0), np.zeros(0), None, path)

    @classmethod
    def load(cls, path: Path, like: ModelParams, num_dims: int) -> Beacons:
        """The beacons saved in ``path`` (empty when it does not exist)."""
        if not path.exists():
            return cls.empty(num_dims, path)
        remedy = "delete it and the run's checkpoints to restart the search"
        try:
            with np.load(path) as f:
                saved = check_digest({k: f[k] for k in f.files}, f"the beacons file {path}", remedy)
        except DamagedStateError:
            raise
        except Exception as err:
            raise RuntimeError(f"cannot read the beacons file {path}: {type(err).__name__}: {err}; {remedy}.") from err
        genes, generation = saved["genes"].astype(np.int32), saved["generation"].astype(np.int32)
        ptq, qat = saved["ptq_accuracy"], saved["qat_accuracy"]
        arrays = {k[2:]: saved[k] for k in saved if k.startswith("w/")}
        weights = ModelParams(arrays=arrays, stack=like.stack) if len(genes) else None
        return cls(genes, generation, ptq, qat, weights, path)

    def __len__(self) -> int:
        return len(self.genes)

    def before(self, generation: int) -> Beacons:
        """The beacons made before ``generation`` (what a resumed generation starts from)."""
        keep = self.generation < generation
        weights = None if not keep.any() else jax.tree.map(lambda a: np.asarray(a)[keep], self.weights)
        return Beacons(self.genes[keep], self.generation[keep], self.ptq_accuracy[keep], self.qat_accuracy[keep],
                       weights, self.path)

    def add(self, genes: np.ndarray, weights: ModelParams, generation: int, ptq_accuracy: np.ndarray,
            qat_accuracy: np.ndarray) -> Beacons:
        """These beacons and the new ones (not saved: :meth:`save`)."""
        new_w = jax.tree.map(np.asarray, weights)
        merged = new_w if self.weights is None else jax.tree.map(lambda a, b: np.concatenate([a, b]),
                                                                 self.weights, new_w)
        return Beacons(np.concatenate([self.genes, genes.astype(np.int32)]),
                       np.concatenate([self.generation, np.full(len(genes), generation, np.int32)]),
                       np.concatenate([self.ptq_accuracy, ptq_accuracy]),
                       np.concatenate([self.qat_accuracy, qat_accuracy]), merged, self.path)

    def save(self) -> None:
        """Writes the beacons and their digest atomically to ``path``."""
        buf = io.BytesIO()
        weights = {f"w/{k}": np.asarray(v) for k, v in self.weights.arrays.items()}
        arrays = {"genes": self.genes, "generation": self.generation, "ptq_accuracy": self.ptq_accuracy,
                  "qat_accuracy": self.qat_accuracy, **weights}
        np.savez(buf, **with_digest(arrays))
        atomic_write_bytes(self.path, buf.getvalue())

    def weights_for(self, idx: np.ndarray) -> ModelParams:
        """The stacked weights of beacons ``idx`` (one set per candidate)."""
        return jax.tree.map(lambda a: np.asarray(a)[idx], self.weights)
