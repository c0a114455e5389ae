"""Trains a PyTorch classifier (nn.GRU with num_layers, then nn.Linear) outside jaxgru, to bring in.

The command line of :mod:`jaxgru.studies.train_torch`;
``python experiments/train_torch.py --help`` lists its options.
"""

import sys

from jaxgru.studies.train_torch import main

if __name__ == "__main__":
    sys.exit(main())
