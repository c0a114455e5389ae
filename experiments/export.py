"""C export of one genome of a finished run, proven against the NumPy reference.

The command line of :mod:`jaxgru.deploy.cli`; ``python experiments/export.py --help`` lists its
options.
"""

import sys

from jaxgru.deploy.cli import main

if __name__ == "__main__":
    sys.exit(main())
