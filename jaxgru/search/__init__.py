"""Search over genomes: NSGA-II (:mod:`~jaxgru.search.nsga2`), Pareto dominance, fronts and
hypervolume (:mod:`~jaxgru.search.pareto`), evosax algorithms as integer strategies, the
checkpointed generational loop (:mod:`~jaxgru.search.loop`), MOHAQ's beacons and the reduced
(gene-group) genome."""
