"""Quantization arithmetic: affine codes, fixed-point requantization, rounding shifts
(:mod:`~jaxgru.ops.primitives`), and one record per operator kind that every backend reads
(:mod:`~jaxgru.ops.kinds`)."""
