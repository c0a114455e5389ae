"""Makes (or finds cached) the synthetic keyword set that the speech tasks use offline.

The command line of :mod:`jaxgru.studies.make_speech`;
``python experiments/make_speech.py --help`` lists its options.
"""

import sys

from jaxgru.studies.make_speech import main

if __name__ == "__main__":
    sys.exit(main())
