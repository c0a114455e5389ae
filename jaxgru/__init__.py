"""jaxgru: per-operator mixed-precision integer GRUs, searched with NSGA-II in JAX."""

from jaxgru.calibrate import Ranges, calibrate
from jaxgru.evaluate import population_accuracy, population_logits
from jaxgru.export import export_arrays, export_npz
from jaxgru.integer import IntGRU, int_logits, quantize_gru
from jaxgru.model import GRUClassifier, GRUParams, gru_logits
from jaxgru.ops import N_OPS, OPS, check_genomes
from jaxgru.reference import ReferenceGRU
from jaxgru.size import model_size
from jaxgru.tasks import TASKS, get_task

__all__ = [
    "GRUClassifier", "GRUParams", "IntGRU", "N_OPS", "OPS", "Ranges", "ReferenceGRU", "TASKS",
    "calibrate", "check_genomes", "export_arrays", "export_npz", "get_task", "gru_logits",
    "int_logits", "model_size", "population_accuracy", "population_logits", "quantize_gru",
]
__version__ = "0.1.0"
