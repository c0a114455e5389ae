"""The real spoken digits (Free Spoken Digit Dataset): splits, front end, and the tfds path."""

import sys
import types

import numpy as np
import pytest
from conftest import data_dir

from jaxgru.data import digits
from jaxgru.data.tasks import get_task


def _folder():
    folder = digits.local_folder(data_dir())
    if folder is None:
        pytest.fail(f"tests need the FSDD recordings in {data_dir()}/fsdd/recordings/.")
    return folder


def test_split_rule_and_window():
    assert [digits.split_of(i) for i in (0, 4, 5, 9, 10, 49)] == ["test", "test", "validation", "validation",
                                                                  "train", "train"]
    short = np.arange(1, 5, dtype=np.int16)
    padded = digits.fit_window(short, 10)
    np.testing.assert_array_equal(padded, [0, 0, 0, 1, 2, 3, 4, 0, 0, 0])  # centred
    np.testing.assert_array_equal(digits.fit_window(np.arange(14), 10), np.arange(2, 12))  # central part


def test_local_splits_follow_the_dataset_rule():
    folder = _folder()
    parts = digits.local_clips(folder)
    # 6 speakers x 10 digits: indices 0-4 test, 5-9 validation, 10-49 train
    assert {s: len(parts[s][1]) for s in digits.SPLITS} == {"train": 2400, "validation": 300, "test": 300}
    for s in digits.SPLITS:
        assert parts[s][0].shape[1:] == (8000,) and parts[s][0].dtype == np.int16
        assert np.all(np.bincount(parts[s][1], minlength=10) == len(parts[s][1]) // 10)
    # Splits are in file-name order: the first test clip is 0_george_0.wav, the first train clip 0_george_10.wav.
    np.testing.assert_array_equal(parts["test"][0][0], digits.fit_window(digits.read_wav(folder / "0_george_0.wav")))
    np.testing.assert_array_equal(parts["train"][0][0],
                                  digits.fit_window(digits.read_wav(folder / "0_george_10.wav")))


def test_digits_task_shapes():
    s = get_task("digits").load(data_dir())
    assert s.x_train.shape == (2400, 63, 40) and s.x_val.shape == (300, 63, 40) and s.x_test.shape == (300, 63, 40)
    assert s.x_train.dtype == np.float32 and set(s.y_val) == set(range(10)) and not s.synthetic
    assert "Free Spoken Digit" in s.source
    per_band = s.x_train.astype(np.float64).reshape(-1, 40)
    assert np.abs(per_band.mean(0)).max() < 1e-2 and np.abs(per_band.std(0) - 1).max() < 1e-3  # standardized on train


def test_tfds_path_on_a_fixture(monkeypatch, tmp_path):
    """``spoken_digit`` through a stand-in tensorflow_datasets: one train split, split by file name."""
    rng = np.random.default_rng(0)
    name = lambda i: f"{i % 10}_spk{'ab'[i // 100]}_{(i // 10) % 10 + 3}.wav".encode()  # noqa: E731
    examples = [{"audio": rng.integers(-3000, 3000, 3000 + 10 * i), "label": i % 10, "audio/filename": name(i)}
                for i in range(200)]

    class Builder:
        data_dir = "/nowhere"

        def is_prepared(self):
            return True

        def as_dataset(self, split):
            assert split == "train"
            return examples

    fake = types.ModuleType("tensorflow_datasets")
    fake.builder = lambda name, data_dir=None: Builder() if name == "spoken_digit" else None
    fake.as_numpy = lambda ds: iter(ds)
    monkeypatch.setitem(sys.modules, "tensorflow_datasets", fake)
    monkeypatch.setitem(sys.modules, "tensorflow", types.ModuleType("tensorflow"))
    empty = tmp_path / "empty"
    empty.mkdir()
    parts, source = digits.clips(empty)  # no local folder: tfds
    assert "tensorflow-datasets" in source
    # indices 3..12: 3, 4 -> test; 5..9 -> validation; 10..12 -> train; 20 examples per index
    assert {s: len(parts[s][1]) for s in digits.SPLITS} == {"test": 40, "validation": 100, "train": 60}
    assert parts["train"][0].shape[1:] == (8000,)


def test_no_folder_and_no_tfds_says_what_to_do(monkeypatch, tmp_path):
    monkeypatch.setitem(sys.modules, "tensorflow_datasets", None)
    with pytest.raises(FileNotFoundError, match="fsdd/recordings.*pip install 'jaxgru\\[tfds\\]'"):
        get_task("digits").load(tmp_path)
