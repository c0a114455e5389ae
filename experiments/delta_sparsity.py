"""How delta thresholds and widths interact, per cell.

The command line of :mod:`jaxgru.studies.delta_sparsity`;
``python experiments/delta_sparsity.py --help`` lists its options.
"""

import sys

from jaxgru.studies.delta_sparsity import main

if __name__ == "__main__":
    sys.exit(main())
