"""Mixed-precision search of a recurrent cell, end to end: ``python experiments/run.py --task mnist_row``.

The command line of :mod:`jaxgru.runs.cli`;
``python experiments/run.py --help`` lists its options.
"""

import sys

from jaxgru.runs.cli import main

if __name__ == "__main__":
    sys.exit(main())
