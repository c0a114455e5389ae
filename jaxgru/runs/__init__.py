"""A search run end to end: the settings declared once (:mod:`~jaxgru.runs.config`), the steps
(:mod:`~jaxgru.runs.prepare`, :mod:`~jaxgru.runs.scoring`, :mod:`~jaxgru.runs.searching`,
:mod:`~jaxgru.runs.reporting`, joined by :func:`jaxgru.runs.experiment.train_and_evaluate`), the
float model on disk, plots, sweeps and the command line."""
