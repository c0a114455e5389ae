"""Larger populations at equal wall time: what a fast evaluator buys a search.

The command line of :mod:`jaxgru.studies.large_population`;
``python experiments/large_population.py --help`` lists its options.
"""

import sys

from jaxgru.studies.large_population import main

if __name__ == "__main__":
    sys.exit(main())
