"""Gathers the committed runs into the README's tables.

The command line of :mod:`jaxgru.studies.report`;
``python experiments/report.py --help`` lists its options.
"""

import sys

from jaxgru.studies.report import main

if __name__ == "__main__":
    sys.exit(main())
