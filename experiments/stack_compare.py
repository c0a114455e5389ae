"""Per-layer widths against widths tied across layers, at equal evaluations, on a stack.

The command line of :mod:`jaxgru.studies.stack_compare`;
``python experiments/stack_compare.py --help`` lists its options.
"""

import sys

from jaxgru.studies.stack_compare import main

if __name__ == "__main__":
    sys.exit(main())
