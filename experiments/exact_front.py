"""The exact Pareto front of a reduced genome space, and how close NSGA-II gets to it.

The command line of :mod:`jaxgru.studies.exact_front`;
``python experiments/exact_front.py --help`` lists its options.
"""

import sys

from jaxgru.studies.exact_front import main

if __name__ == "__main__":
    sys.exit(main())
