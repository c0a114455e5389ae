"""Beacon-based search against the PTQ and the full QAT search (MOHAQ's step 2), measured.

The command line of :mod:`jaxgru.studies.beacon_compare`;
``python experiments/beacon_compare.py --help`` lists its options.
"""

import sys

from jaxgru.studies.beacon_compare import main

if __name__ == "__main__":
    sys.exit(main())
