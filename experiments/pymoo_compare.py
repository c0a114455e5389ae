"""jaxgru's NSGA-II against pymoo's at equal evaluations, on the same evaluator.

The command line of :mod:`jaxgru.studies.pymoo_compare`;
``python experiments/pymoo_compare.py --help`` lists its options.
"""

import sys

from jaxgru.studies.pymoo_compare import main

if __name__ == "__main__":
    sys.exit(main())
