"""The model-size objective of the GRU-GA paper (DESIGN section 3).

``M_Q = sum over parameters of the bit width of the operator that owns it``. A linear operator
owns its weight matrix and its bias (counted at the operator's width, as the paper's formula
does; the deployed int32 biases are an implementation detail of the integer model); the dense
head owns its weights and bias at ``head_bits``; elementwise operators own nothing.
``M_FP16 = 16 * number of parameters``; the fitness is ``1 - M_Q / M_FP16``.
"""

from __future__ import annotations

import numpy as np

from jaxgru.ops import DEFAULT_IO_BITS, H_LINEAR, N_OPS, X_LINEAR, check_genomes


def param_counts(n_in: int, hidden: int, n_classes: int) -> tuple[np.ndarray, int]:
    """Parameters owned by each of the 17 operators, and by the dense head."""
    counts = np.zeros(N_OPS, np.int64)
    counts[list(X_LINEAR)] = n_in * hidden + hidden
    counts[list(H_LINEAR)] = hidden * hidden + hidden
    return counts, hidden * n_classes + n_classes


def model_size(
    genomes, n_in: int, hidden: int, n_classes: int, head_bits: int = DEFAULT_IO_BITS
) -> tuple[np.ndarray, np.ndarray]:
    """``(size_bits, fitness)`` for ``genomes: int[..., 17]``.

    ``size_bits`` is ``M_Q``; ``fitness = 1 - M_Q / M_FP16`` (larger is better, 0.5 at 8 bits).
    """
    genomes = check_genomes(genomes)
    counts, head = param_counts(n_in, hidden, n_classes)
    size_bits = genomes.astype(np.int64) @ counts + head_bits * head
    fp16 = 16 * (counts.sum() + head)
    return size_bits, 1.0 - size_bits / fp16
