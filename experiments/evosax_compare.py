"""The paper's question as one constrained objective, answered by evosax's strategies and by NSGA-II.

The command line of :mod:`jaxgru.studies.evosax_compare`;
``python experiments/evosax_compare.py --help`` lists its options.
"""

import sys

from jaxgru.studies.evosax_compare import main

if __name__ == "__main__":
    sys.exit(main())
