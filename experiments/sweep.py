"""A grid of search runs, gathered into one table and one figure.

The command line of :mod:`jaxgru.runs.sweep`;
``python experiments/sweep.py --help`` lists its options.
"""

import sys

from jaxgru.runs.sweep import main

if __name__ == "__main__":
    sys.exit(main())
