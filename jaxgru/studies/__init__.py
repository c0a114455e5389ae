"""The studies behind the documentation's results (exact front, pymoo and evosax comparisons,
MOHAQ, beacons, larger populations, sensitivity, the report tables) and their shared set-up
(:mod:`~jaxgru.studies.common`). Each has a thin command line in ``experiments/``."""
