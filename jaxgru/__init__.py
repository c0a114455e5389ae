"""jaxgru: per-operator mixed-precision integer recurrent networks (stacks of GRU, LSTM, LiGRU, SRU
layers), searched with NSGA-II in JAX."""

import jaxgru.runtime  # noqa: F401  (first: sets XLA's flags before JAX starts its CPU backend)
from jaxgru.cells import CELLS, Stack, get_cell
from jaxgru.cells.declaration import KINDS, Cell, Op
from jaxgru.cells.genome import PLATFORM_WIDTHS, Widths, check_genomes, homogeneous_genomes
from jaxgru.data.tasks import TASKS, get_task
from jaxgru.model.calibrate import Ranges, calibrate
from jaxgru.model.costs import COSTS, cost_model, population_costs
from jaxgru.model.counts import model_size, op_counts
from jaxgru.model.export import export_arrays, export_npz
from jaxgru.model.floating import Classifier, ModelParams, float_logits
from jaxgru.model.from_torch import import_torch
from jaxgru.model.integer import IntModel, int_logits, quantize
from jaxgru.model.population import Scores, population_accuracy, population_logits, population_scores
from jaxgru.model.reference import Reference
from jaxgru.model.training import train_float
from jaxgru.runs.config import Config, RunOptions
from jaxgru.runs.experiment import train_and_evaluate
from jaxgru.search.loop import run_search
from jaxgru.search.nsga2 import NSGA2

__all__ = [
    "CELLS", "COSTS", "Cell", "Classifier", "Config", "IntModel", "KINDS", "ModelParams", "NSGA2", "Op",
    "PLATFORM_WIDTHS", "Ranges", "Reference", "RunOptions", "Stack", "TASKS", "Widths", "calibrate", "check_genomes",
    "cost_model", "export_arrays", "export_npz", "float_logits", "get_cell", "get_task", "homogeneous_genomes",
    "import_torch",
    "int_logits", "model_size", "op_counts", "population_accuracy", "population_costs", "population_logits",
    "population_scores", "quantize", "run_search", "Scores", "train_and_evaluate", "train_float",
]
__version__ = "0.4.0"
