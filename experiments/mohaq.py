"""MOHAQ's headline results, on the tasks and cells available here (TIMIT is not).

The command line of :mod:`jaxgru.studies.mohaq`;
``python experiments/mohaq.py --help`` lists its options.
"""

import sys

from jaxgru.studies.mohaq import main

if __name__ == "__main__":
    sys.exit(main())
