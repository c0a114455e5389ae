"""Float training checkpoints every epoch and resumes where it stopped."""

import numpy as np
import pytest

from jaxgru.model.training import train_float


def test_training_resumed_after_a_kill_equals_the_uninterrupted_one(tmp_path, mnist_splits):
    x, y = mnist_splits.x_train[:640], mnist_splits.y_train[:640]
    kw = dict(hidden=8, classes=10, epochs=3, batch_size=64, seed=4)
    whole = train_float(x, y, **kw).params()

    def dies_after_epoch_2(line):
        if line.startswith("epoch 2/"):
            raise KeyboardInterrupt

    with pytest.raises(KeyboardInterrupt):
        train_float(x, y, **kw, log=dies_after_epoch_2, checkpoint_dir=tmp_path)
    said = []
    resumed = train_float(x, y, **kw, log=said.append, checkpoint_dir=tmp_path).params()
    assert said[0].startswith("resumed float training after epoch 1/3") and said[1].startswith("epoch 2/3")
    for k in whole.arrays:
        np.testing.assert_array_equal(resumed.arrays[k], whole.arrays[k], err_msg=k)
