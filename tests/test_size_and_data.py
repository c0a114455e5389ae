import numpy as np
import pytest

from jaxgru.cells import get_cell
from jaxgru.data.sources import DataNotFoundError, load_mnist
from jaxgru.data.tasks import get_task
from jaxgru.model.counts import model_size

GRU = get_cell("gru")


def test_size_by_hand():
    # I=2, H=3, C=4: x-linears own 2*3+3 = 9 params each, h-linears 3*3+3 = 12, head 3*4+4 = 16.
    genome = np.array([2, 3, 4, 5, 6, 7] + [8] * 11, np.int32)
    size_bits, fitness = model_size(genome, GRU, n_in=2, hidden=3, n_classes=4, head_bits=8)
    want = 9 * (2 + 4 + 6) + 12 * (3 + 5 + 7) + 16 * 8
    assert size_bits == want == 416
    assert fitness == pytest.approx(1 - 416 / (16 * (3 * 9 + 3 * 12 + 16)))


def test_size_ignores_elementwise_genes_and_is_half_at_8_bits():
    base = np.full(17, 8, np.int32)
    other = base.copy()
    other[6:] = 2  # elementwise operators own no parameters
    sizes, fitness = model_size(np.stack([base, other]), GRU, 28, 128, 10)
    assert sizes[0] == sizes[1]
    assert fitness[0] == pytest.approx(0.5)


def test_unknown_task():
    with pytest.raises(ValueError, match="unknown task 'mnist_colum'.*mnist_row"):
        get_task("mnist_colum")


def test_missing_data_dir(tmp_path):
    with pytest.raises(DataNotFoundError, match="does not exist"):
        load_mnist(tmp_path / "nowhere")


def test_missing_file_never_downloads(tmp_path, monkeypatch):
    """An empty data directory and downloads off: a clear error at once, not tfds' retries."""
    monkeypatch.setenv("TFDS_DATA_DIR", str(tmp_path / "tfds"))
    monkeypatch.delenv("JAXGRU_DOWNLOAD", raising=False)
    with pytest.raises(DataNotFoundError, match="mnist.npz.*`data_dir`"):
        load_mnist(tmp_path, download=False)


def test_mnist_row_shapes(mnist_splits):
    s = mnist_splits
    assert s.x_train.shape == (55000, 28, 28) and s.x_val.shape == (5000, 28, 28)
    assert s.x_test.shape == (10000, 28, 28) and s.x_train.dtype == np.float32
    assert 0.0 <= s.x_train.min() and s.x_train.max() == 1.0
    assert set(np.unique(s.y_val)) == set(range(10))


def test_mnist_pixel_shapes():
    from conftest import data_dir

    s = get_task("mnist_pixel").load(data_dir())
    assert s.x_train.shape == (55000, 361, 1) and s.x_val.shape == (5000, 361, 1) and s.x_test.shape == (10000, 361, 1)
    assert s.x_train.dtype == np.float32 and 0.0 <= s.x_train.min() and s.x_train.max() <= 1.0
    # The resize keeps the digit: the mean image's centre is bright, its corners dark.
    mean = s.x_train[:2000, :, 0].mean(0).reshape(19, 19)
    assert mean[7:12, 7:12].mean() > 5 * mean[:3, :3].mean()
