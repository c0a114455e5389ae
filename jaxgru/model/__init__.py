"""The quantized model and its backends, each a walk over a cell's declaration: the float model
and its training, calibration, the integer model, the QAT twins, the independent NumPy
reference, the export, parameter/MAC counts and hardware costs, and population scoring (one
jitted, vmapped call for a whole population of genomes)."""
