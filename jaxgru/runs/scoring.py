"""Step 2 of a run: the accuracy of a population, scored with the float model's weights (PTQ),
after QAT of every specimen (QAT), or with the better of those and its nearest beacon's (beacon)."""

from __future__ import annotations

import numpy as np

from jaxgru.files import write_csv
from jaxgru.model.floating import ModelParams
from jaxgru.model.population import Scores, population_scores
from jaxgru.model.qat import qat_population
from jaxgru.runs.prepare import Prepared
from jaxgru.search.beacons import Beacons, nearest_beacon, pick_new_beacons


def _choose(use: np.ndarray, a: Scores, b: Scores) -> Scores:
    """``a``'s scores where ``use: bool[P]``, else ``b``'s."""
    pick = lambda u, v: None if u is None else np.where(use.reshape((-1,) + (1,) * (u.ndim - 1)), u, v)  # noqa: E731
    return Scores(*(pick(u, v) for u, v in zip(a, b)))


class Scorer:
    """Step 2: ``scorer(genomes, (x, y, lengths), ..., thresholds=)``, the
    :class:`~jaxgru.model.population.Scores` of ``genomes`` (and their delta thresholds) on each
    data set, scored as one population: with the float model's weights (PTQ), after QAT of every
    specimen (QAT), or with the better of those and its nearest beacon's (beacon; the first data set
    decides which, and every data set is then scored with the same weights). QAT fine-tunes
    without deltas; the thresholds apply when the fine-tuned model is scored."""

    def __init__(self, prep: Prepared):
        self.prep, cfg = prep, prep.cfg
        self.beacons = Beacons.empty(prep.params.stack.n_ops)
        if prep.mode in ("qat", "beacon"):
            x_train, y_train = prep.splits.x_train, prep.splits.y_train
            n_qat = max(cfg.qat_batch_size, round(cfg.qat_fraction * len(x_train)))
            pick = np.random.default_rng([cfg.seed, 1]).permutation(len(x_train))[:n_qat]
            self.x_qat, self.y_qat = x_train[pick], y_train[pick]
            lengths = prep.splits.lengths("train")
            self.lengths_qat = None if lengths is None else lengths[pick]
            prep.log(f"QAT: every {'beacon' if prep.mode == 'beacon' else 'specimen'} fine-tunes on {len(pick)} "
                     f"train sequences, {cfg.qat_epochs} epoch(s), Adam lr {cfg.qat_learning_rate:g}")
        if prep.mode == "beacon":
            self.beacons = Beacons.load(prep.out / "beacons.npz", prep.params, prep.params.stack.n_ops)

    def qat(self, genomes: np.ndarray) -> ModelParams:
        """Each genome's own fine-tuned weights (stacked), with the run's QAT settings."""
        cfg = self.prep.cfg
        return qat_population(self.prep.params, self.prep.ranges, genomes, self.x_qat, self.y_qat,
                              epochs=cfg.qat_epochs, batch_size=cfg.qat_batch_size,
                              learning_rate=cfg.qat_learning_rate, seed=cfg.seed, exact=cfg.qat_exact,
                              lengths=self.lengths_qat)

    def score(self, weights: ModelParams, genomes: np.ndarray, x, y, lengths=None, thresholds=None) -> Scores:
        return population_scores(weights, self.prep.ranges, genomes, x, y, widths=self.prep.widths, lengths=lengths,
                                 thresholds=thresholds)

    def beacon_scores(self, genomes: np.ndarray, data, ptq: list[Scores], thresholds=None
                      ) -> tuple[list[Scores], np.ndarray]:
        """Scores on each data set of ``data`` with each genome's nearest beacon's weights
        re-quantized to it where that beats PTQ (``ptq``, its scores per data set) on the
        first data set, else PTQ's; and that first-set beacon accuracy (PTQ's without beacons)."""
        if len(self.beacons) == 0:
            return ptq, ptq[0].accuracy
        idx, _ = nearest_beacon(self.prep.widths.encode(genomes), self.beacons.genes)
        weights = self.beacons.weights_for(idx)
        first = self.score(weights, genomes, *data[0], thresholds=thresholds)
        use = first.accuracy > ptq[0].accuracy
        out = [_choose(use, first, ptq[0])]
        for d, p in zip(data[1:], ptq[1:]):
            out.append(_choose(use, self.score(weights, genomes, *d, thresholds=thresholds), p) if use.any() else p)
        return out, first.accuracy

    def __call__(self, genomes, *data, thresholds=None) -> list[Scores]:
        genomes = np.asarray(genomes, np.int32)
        if self.prep.mode == "qat":
            weights = self.qat(genomes)
            return [self.score(weights, genomes, *d, thresholds=thresholds) for d in data]
        ptq = [self.score(self.prep.params, genomes, *d, thresholds=thresholds) for d in data]
        return ptq if self.prep.mode == "ptq" else self.beacon_scores(genomes, data, ptq, thresholds)[0]

    def search_scores(self, genomes: np.ndarray, generation: int, thresholds=None) -> Scores:
        """Validation scores as the search takes them. In beacon mode, first makes this
        generation's new beacons (QAT of the candidates :func:`pick_new_beacons` picks), so the
        beacons never depend on where a run was interrupted."""
        prep = self.prep
        if prep.mode != "beacon":
            return self(genomes, prep.val, thresholds=thresholds)[0]
        self.beacons = self.beacons.before(generation)
        ptq = self.score(prep.params, genomes, *prep.val, thresholds=thresholds)
        genes = prep.widths.encode(genomes)
        new = pick_new_beacons(genes, 1.0 - ptq.accuracy, self.beacons.genes, prep.cfg.resolved_beacon_distance(),
                               prep.cfg.beacons_per_generation)
        if new:
            self.beacons = self.beacons.add(genes[new], self.qat(genomes[new]), generation, ptq.accuracy[new],
                                            np.full(len(new), np.nan))
        (scores,), borrowed = self.beacon_scores(genomes, [prep.val], [ptq], thresholds)
        if new:
            # A new beacon is its own nearest (it lies farther than the threshold from every other).
            self.beacons.qat_accuracy[-len(new):] = borrowed[new]
            self.beacons.save()
            self.write_beacons()
        return scores

    def write_beacons(self) -> None:
        """``beacons.csv``: every beacon, the generation that made it, its PTQ and QAT validation accuracy."""
        prep, b = self.prep, self.beacons
        header = ["generation"] + [f"b{k}_{op.name}" for k, op in enumerate(prep.params.stack.ops)] + [
            "ptq_accuracy", "qat_accuracy"]
        write_csv(prep.out / "beacons.csv", header, (
            [int(g), *map(int, genome), f"{p:.6f}", f"{q:.6f}"]
            for g, genome, p, q in zip(b.generation, prep.widths.decode(b.genes), b.ptq_accuracy, b.qat_accuracy)))


