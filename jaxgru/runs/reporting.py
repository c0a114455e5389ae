"""Step 4 of a run: the final front and the homogeneous baselines, both also scored on the
test split, written as ``front.json``, ``baseline.json``, ``summary.json`` and plots."""

from __future__ import annotations

import numpy as np

from jaxgru.files import write_json
from jaxgru.model.costs import COSTS
from jaxgru.model.counts import param_counts
from jaxgru.model.population import Scores
from jaxgru.runs.config import parse_delta
from jaxgru.runs.plots import plot_history, plot_pareto, plot_projections
from jaxgru.runs.prepare import Prepared, genome_costs, objective_values, sizes
from jaxgru.runs.scoring import Scorer
from jaxgru.runs.searching import COST_COLUMNS, history_rows, scores_of
from jaxgru.search.loop import SearchResult
from jaxgru.search.pareto import dominated_by, pareto_mask

PLOT_KEYS = {"size": "size_ratio"}  # the objective "size" is plotted as the ratio to 16 bits
MAXIMIZED = {"eliminated_ops"}  # besides the speed-ups


def objectives_of(rows: list[dict]) -> np.ndarray:
    """(error, size) of result rows, both minimized, float64."""
    return np.array([[1.0 - r["accuracy"], r["size_bits"]] for r in rows], np.float64).reshape(-1, 2)


def _title(prep: Prepared) -> str:
    synthetic = " (SYNTHETIC data)" if prep.splits.synthetic else ""
    return (f"{prep.task.name}{synthetic}, {prep.cfg.model_name()}, {prep.mode.upper()}, "
            f"P={prep.cfg.population}, widths {prep.widths}")


def _records(prep: Prepared, genomes, acc, costs: dict[str, np.ndarray], thresholds=None, scores=None,
             **extra) -> list[dict]:
    bits, ratio = sizes(prep, genomes)
    # every logged cost, and the run's other cost objectives (the C export's flash and instructions)
    columns = (*COST_COLUMNS, *(c for c in prep.objectives[1:] if c in COSTS and c not in COST_COLUMNS))
    rows = []
    for i, g in enumerate(genomes):
        row = {"bits": [int(b) for b in g], "accuracy": float(acc[i]), "size_bits": int(bits[i]),
               "size_ratio": float(ratio[i]), **{c: float(costs[c][i]) for c in columns}}
        if thresholds is not None:
            row.update(thresholds=[int(t) for t in thresholds[i]], eliminated_ops=float(scores.eliminated[i]),
                       eliminated_per_op=[round(float(v), 6) for v in scores.eliminated_ops[i]])
        row.update({k: (v[i].item() if hasattr(v[i], "item") else v[i]) for k, v in extra.items()})
        rows.append(row)
    return rows


def _share_of_max(prep: Prepared, front: list[dict], reference: dict) -> dict:
    """For each cost objective: the best value among front genomes within 1 point of
    ``reference`` (the widest homogeneous model), and its share of the largest possible gain
    over it (that of the all-narrowest genome): MOHAQ's "share of the maximum speed-up"."""
    narrowest = np.full((1, prep.params.stack.n_ops), prep.widths.values[0], np.int32)
    extreme = genome_costs(prep, narrowest)
    close = [f for f in front if f["accuracy"] >= reference["accuracy"] - 0.01 - 1e-6]
    out = {}
    for name in prep.objectives[1:]:
        if name == "size":
            name_col = "size_bits"
            ext, ref = float(sizes(prep, narrowest)[0][0]), float(reference["size_bits"])
        elif name == "eliminated_ops":  # at most everything, against the widest model's free sparsity
            name_col, ext, ref = name, 1.0, float(reference[name])
        else:
            name_col, ext, ref = name, float(extreme[name][0]), float(reference[name])
        sign = -1.0 if name in MAXIMIZED or (name in COSTS and COSTS[name].maximize) else 1.0
        if not close:
            out[name] = None
            continue
        best = min(close, key=lambda f: sign * f[name_col])
        gain, most = sign * (ref - best[name_col]), sign * (ref - ext)
        out[name] = {"value": best[name_col], "reference": ref, "extreme": ext, "bits": best["bits"],
                     "accuracy": best["accuracy"], "share_of_max": None if most == 0 else gain / most}
    return out


def _smallest_within(front: list[dict], floor: float, n_params: int) -> float | None:
    """Size reduction against 32-bit float of the smallest front genome at accuracy >= ``floor``."""
    ok = [f["size_bits"] for f in front if f["accuracy"] >= floor - 1e-6]
    return 1.0 - min(ok) / (32 * n_params) if ok else None


def report(prep: Prepared, accuracy: Scorer, result: SearchResult) -> dict:
    """The final front and the homogeneous baselines, both also scored on the test
    split; writes ``front.json``, ``baseline.json``, ``summary.json`` and the plots; returns the
    summary."""
    stack, out = prep.params.stack, prep.out
    homo = prep.widths.homogeneous(stack)
    acc = 1.0 - result.objectives[:, 0]
    feasible = result.violation <= 0
    mask = pareto_mask(np.where(feasible[:, None], result.objectives.astype(np.float64), np.inf)) & feasible
    order = np.argsort(result.objectives[mask, 1], kind="stable")  # by the first cost
    front_g, front_acc = result.genomes[mask][order], acc[mask][order]
    delta = result.thresholds is not None
    front_t = result.thresholds[mask][order] if delta else None
    # The homogeneous baselines run dense (threshold 0; a delta device still skips unchanged units).
    homo_t = np.zeros((len(homo), len(stack.delta_sources)), np.int32) if delta else None
    # One scoring call for front and baseline; the front keeps the scores it was selected on.
    # With deltas the front is scored a second time without them (every threshold 0): Shrink and
    # Eliminate's measure of what the deltas cost, in the same call (the same QAT or beacon weights).
    n = len(front_g)
    genomes = np.concatenate([front_g, homo] + ([front_g] if delta else []))
    thresholds = np.concatenate([front_t, homo_t, np.zeros_like(front_t)]) if delta else None
    both_val, test = accuracy(genomes, prep.val, prep.test, thresholds=thresholds)
    m = n + len(homo)
    dense_acc = both_val.accuracy[m:] if delta and n else None
    both_val, test = (Scores(*(None if v is None else v[:m] for v in sc)) for sc in (both_val, test))
    homo_acc = both_val.accuracy[n:]
    front_scores = scores_of(result.measures[mask][order]) if delta else None
    homo_scores = Scores(*(None if v is None else v[n:] for v in both_val))
    front_costs = genome_costs(prep, front_g, front_scores)
    homo_costs = genome_costs(prep, homo, homo_scores if delta else None)
    front = _records(prep, front_g, front_acc, front_costs, front_t, front_scores, test_accuracy=test.accuracy[:n],
                     **({"accuracy_without_deltas": dense_acc} if dense_acc is not None else {}))
    baseline = _records(prep, homo, homo_acc, homo_costs, homo_t, homo_scores, test_accuracy=test.accuracy[n:])
    write_json(out / "front.json", front)
    write_json(out / "baseline.json", baseline)

    # GRU-GA's comparison is with 8 bits; a width set without 8 compares with its widest.
    ref_i = prep.widths.values.index(8) if 8 in prep.widths.values else len(homo) - 1
    acc8, size8 = float(homo_acc[ref_i]), baseline[ref_i]["size_bits"]
    # "Within 1 point" includes exactly 1 point below. The front's accuracies went through the
    # search's float32 objectives, so without a tolerance rounding decides that boundary
    # (290/300 = 0.96666664 in float32, against 293/300 - 0.01).
    close = [f for f in front if f["accuracy"] >= acc8 - 0.01 - 1e-6]
    best = min(close, key=lambda f: f["size_bits"]) if close else None
    op_params, head_params = param_counts(stack, prep.task.features, prep.params.hidden, prep.task.classes)
    n_params = int(op_params.sum()) + head_params
    f_front = objective_values(prep, front_acc, front_costs)
    f_homo = objective_values(prep, homo_acc, homo_costs)
    n_dominated = int(dominated_by(f_homo[1:], f_front).sum()) if len(front) else 0
    summary = {
        "task": prep.task.name, "cell": stack.name, "layers": stack.layers, "source": prep.splits.source,
        "synthetic": prep.splits.synthetic, "mode": prep.mode, "hidden": prep.cfg.hidden,
        "tie_layers": prep.cfg.tie_layers, "parameters": n_params, "widths": list(prep.widths.values),
        "objectives": list(prep.objectives), "reference_bits": prep.widths.values[ref_i],
        "float_val_accuracy": prep.float_val, "float_test_accuracy": prep.float_test,
        "int8_val_accuracy": acc8, "int8_test_accuracy": baseline[ref_i]["test_accuracy"],
        "best_within_1pt_of_int8": best,
        "size_reduction_vs_int8": None if best is None else 1.0 - best["size_bits"] / size8,
        "size_reduction_vs_float32": None if best is None else 1.0 - best["size_bits"] / (32 * n_params),
        # Shrink and Eliminate's figure: compression against float32 within 2 points of float
        "size_reduction_vs_float32_within_2pt_of_float": _smallest_within(front, prep.float_val - 0.02, n_params),
        "within_1pt_of_widest": _share_of_max(prep, front, baseline[-1]),
        "homogeneous_dominated": n_dominated,
        "final_hypervolume": result.history[-1]["hypervolume"],
        "evaluations": int(len(result.genomes)),
        "search_seconds": result.history[-1]["wall_seconds"],
    }
    if prep.mode == "beacon":
        summary["beacons"] = len(accuracy.beacons)
    if delta:
        summary["delta"] = parse_delta(prep.cfg.delta)
        summary["most_eliminated_within_1pt_of_int8"] = max((f["eliminated_ops"] for f in close), default=None)
        # Shrink and Eliminate's: of the quantized models within 2 points of float, the deltas that
        # cost at most 1 point against the same widths without them
        summary["most_eliminated_within_1pt_of_same_widths"] = max(
            (f["eliminated_ops"] for f in front if f["accuracy_without_deltas"] >= prep.float_val - 0.02 - 1e-6
             and f["accuracy"] >= f["accuracy_without_deltas"] - 0.01 - 1e-6), default=None)
    write_json(out / "summary.json", summary)
    evaluated = {"accuracy": acc, "generation": result.generation, "size_ratio": sizes(prep, result.genomes)[1],
                 **genome_costs(prep, result.genomes, scores_of(result.measures) if delta else None)}
    if prep.objectives == ("error", "size"):
        plot_pareto(out / "pareto.png", evaluated=evaluated, front=front, baseline=baseline, title=_title(prep))
    else:
        plot_projections(out / "pareto.png", [PLOT_KEYS.get(n, n) for n in prep.objectives[1:]],
                         evaluated=evaluated, front=front, baseline=baseline, title=_title(prep))
    plot_history(out / "history.png", history_rows(result), title=_title(prep))
    synthetic = " (synthetic)" if prep.splits.synthetic else ""
    ref_name = f"int{prep.widths.values[ref_i]}"
    line = (f"{prep.task.name}{synthetic} {prep.cfg.model_name()} [{prep.mode}]: "
            f"float {prep.float_val:.4f}, {ref_name} {acc8:.4f}; ")
    if best is None:
        line += f"no mixed genome within 1 point of {ref_name}"
    else:
        line += (f"smallest genome within 1 point of {ref_name}: {best['bits']} at {best['accuracy']:.4f}, "
                 f"{100 * summary['size_reduction_vs_int8']:.1f}% smaller than {ref_name}")
    line += (f"; the mixed front dominates {n_dominated} of the {len(homo) - 1} homogeneous models above "
             f"{prep.widths.values[0]} bits")
    shares = {k: v for k, v in summary["within_1pt_of_widest"].items() if v and v["share_of_max"] is not None}
    if shares and prep.objectives != ("error", "size"):
        line += "; within 1 point of the widest: " + ", ".join(
            f"{k} {v['value']:.4g} ({100 * v['share_of_max']:.0f}% of the most possible)" for k, v in shares.items())
    prep.log(line)
    prep.log(f"front and plots: {out / 'pareto.png'}, {out / 'front.json'}, {out / 'summary.json'}")
    return summary



