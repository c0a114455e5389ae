"""Which operators of a run's cell need their bits: one-operator sensitivity and wider paths.

The command line of :mod:`jaxgru.studies.sensitivity`;
``python experiments/sensitivity.py --help`` lists its options.
"""

import sys

from jaxgru.studies.sensitivity import main

if __name__ == "__main__":
    sys.exit(main())
