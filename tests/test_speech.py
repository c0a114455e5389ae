"""Speech tasks: log-mel features, the synthetic keyword generator, the tfds path on a fixture
in Speech Commands' format, the task loaders' shapes and labels, and the missing-tool messages."""

import sys
import types

import numpy as np
import pytest

from jaxgru.data import audio, speech, tasks
from jaxgru.data.sources import DataNotFoundError

needs_espeak = pytest.mark.skipif(not speech.espeak_available(), reason="espeak-ng is not installed")

# tfds speech_commands' label names, in its order.
TFDS_LABELS = ["down", "go", "left", "no", "off", "on", "right", "stop", "up", "yes", "_silence_", "_unknown_"]


def test_log_mel_shape_and_a_tone_lands_in_its_band():
    t = np.arange(audio.CLIP_SAMPLES) / audio.SAMPLE_RATE
    tones = np.stack([0.5 * np.sin(2 * np.pi * f * t) for f in (300.0, 1000.0, 4000.0)])
    feats = audio.log_mel((tones * 32767).astype(np.int16))
    assert feats.shape == (3, 63, 40) and feats.dtype == np.float32
    centres = audio.mel_to_hz(np.linspace(audio.hz_to_mel(audio.F_MIN), audio.hz_to_mel(8000.0), 42))[1:-1]
    for row, f in zip(feats, (300.0, 1000.0, 4000.0)):
        loudest = int(np.bincount(row.argmax(axis=1)).argmax())
        assert abs(loudest - int(np.abs(centres - f).argmin())) <= 1, (f, loudest)
    silent = audio.log_mel(np.zeros((1, 16000), np.int16))
    np.testing.assert_allclose(silent, np.log(audio.LOG_FLOOR), rtol=1e-6)
    with pytest.raises(ValueError, match=r"audio must be \[N, L\]"):
        audio.log_mel(np.zeros(16000))


def test_mel_filterbank_triangles():
    fb = audio.mel_filterbank()
    assert fb.shape == (257, 40)
    # Every band catches some FFT bin (no empty filter at 40 bands of 16 kHz audio), none exceeds 1.
    assert fb.max(axis=0).min() > 0.5 and fb.max() <= 1.0
    assert np.all(np.diff(fb.argmax(axis=0)) >= 0)  # centres ascend


@needs_espeak
def test_synthetic_generator_is_deterministic_for_a_seed():
    a = speech.generate_synthetic(("yes", "no"), 3, seed=4, workers=2)
    b = speech.generate_synthetic(("yes", "no"), 3, seed=4, workers=1)
    c = speech.generate_synthetic(("yes", "no"), 3, seed=5)
    assert a["audio"].shape == (6, 16000) and a["audio"].dtype == np.int16
    assert list(a["label"]) == [0, 0, 0, 1, 1, 1]
    for k in a:
        np.testing.assert_array_equal(a[k], b[k])
    assert not np.array_equal(a["audio"], c["audio"])
    assert np.abs(a["audio"]).max() > 3000  # there is speech in there, not just noise
    # One clip alone is the same clip: each is drawn from (seed, index) only.
    np.testing.assert_array_equal(speech.synthesize_clip("no", 4, 4)[0], a["audio"][4])


def test_voice_splits_are_disjoint_and_cover_every_voice():
    splits = speech.voice_splits(0)
    assert set(splits) == set(speech.voices()) and set(splits.values()) == {0, 1, 2}
    counts = np.bincount(list(splits.values()))
    np.testing.assert_allclose(counts / counts.sum(), speech.SPLIT_FRACTIONS, atol=0.02)
    assert speech.voice_splits(0) == splits and speech.voice_splits(1) != splits


@needs_espeak
def test_synthetic_cache_roundtrip(tmp_path):
    made = speech.synthetic_clips(("up",), 2, seed=1, folder=tmp_path)
    assert len(list(tmp_path.glob("synthetic_keywords_*.npz"))) == 1
    again = speech.synthetic_clips(("up",), 2, seed=1, folder=tmp_path)
    np.testing.assert_array_equal(made["audio"], again["audio"])


def _fixture_examples(rng):
    """Speech Commands examples as tfds yields them: int16 audio up to 1 s, integer labels."""
    examples = []
    for i in range(30):
        label = i % len(TFDS_LABELS)
        length = int(rng.integers(8000, 16001))
        examples.append({"audio": rng.integers(-3000, 3000, length).astype(np.int16), "label": np.int64(label)})
    return examples


def test_clips_from_tfds_examples():
    examples = _fixture_examples(np.random.default_rng(0))
    audio_, labels = speech.clips_from_examples(examples, TFDS_LABELS, speech.KEYWORDS4)
    kept = [e for e in examples if TFDS_LABELS[int(e["label"])] in speech.KEYWORDS4]
    assert audio_.shape == (len(kept), 16000) and audio_.dtype == np.int16
    assert [speech.KEYWORDS4[k] for k in labels] == [TFDS_LABELS[int(e["label"])] for e in kept]
    first = kept[0]["audio"]
    np.testing.assert_array_equal(audio_[0, : len(first)], first)
    assert not audio_[0, len(first):].any()  # zero-padded at the end
    with pytest.raises(ValueError, match="not among the data set's labels"):
        speech.clips_from_examples(examples, TFDS_LABELS, ("yes", "maybe"))


def test_tfds_path_on_a_fixture(monkeypatch):
    """tfds_clips through a stand-in tensorflow_datasets module that serves the fixture."""
    examples = _fixture_examples(np.random.default_rng(1))
    asked = {}

    class Builder:
        data_dir = "/nowhere"
        info = types.SimpleNamespace(features={"label": types.SimpleNamespace(names=TFDS_LABELS)})

        def __init__(self, prepared):
            self.prepared = prepared

        def is_prepared(self):
            return self.prepared

        def as_dataset(self, split):
            asked.setdefault("splits", []).append(split)
            return examples

    fake = types.ModuleType("tensorflow_datasets")
    fake.builder = lambda name, data_dir=None: Builder(prepared=True)
    fake.as_numpy = lambda ds: iter(ds)
    monkeypatch.setitem(sys.modules, "tensorflow_datasets", fake)
    monkeypatch.setitem(sys.modules, "tensorflow", types.ModuleType("tensorflow"))
    parts = speech.tfds_clips(speech.KEYWORDS10)
    assert asked["splits"] == ["train", "validation", "test"]
    for x, y in parts.values():
        assert x.shape[1:] == (16000,) and set(y) == set(range(10))
    # Not prepared and downloads off: a message that says how to get it, not a hang.
    fake.builder = lambda name, data_dir=None: Builder(prepared=False)
    with pytest.raises(DataNotFoundError, match="downloads are off"):
        speech.tfds_clips(speech.KEYWORDS4)


def test_missing_tensorflow_is_one_clear_line(monkeypatch, capsys, tmp_path):
    """tfds installed but TensorFlow not: the loader says what to install before tfds is touched,
    and run.py prints that one line (exit 2), not a traceback from inside tensorflow-datasets."""


    touched = []
    fake = types.ModuleType("tensorflow_datasets")
    fake.builder = lambda *a, **k: touched.append(a)
    monkeypatch.setitem(sys.modules, "tensorflow_datasets", fake)
    monkeypatch.setitem(sys.modules, "tensorflow", None)  # import fails
    wanted = r"needs TensorFlow, which is not installed: pip install 'jaxgru\[tfds\]'"
    with pytest.raises(DataNotFoundError, match=wanted):
        speech.tfds_clips(speech.KEYWORDS4)
    assert not touched
    from jaxgru.runs import cli as run
    assert run.main(["--task", "speech10", "--source", "tfds", "--quiet", "--out", str(tmp_path / "r")]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and "needs TensorFlow" in err[0] and "pip install 'jaxgru[tfds]'" in err[0]


def test_missing_tfds_and_missing_espeak_say_what_to_install(monkeypatch):
    monkeypatch.setitem(sys.modules, "tensorflow_datasets", None)  # import fails
    with pytest.raises(DataNotFoundError, match=r"pip install 'jaxgru\[tfds\]'"):
        speech.tfds_clips(speech.KEYWORDS4)
    monkeypatch.setattr(speech.shutil, "which", lambda name: None)
    with pytest.raises(DataNotFoundError, match="apt-get install espeak-ng"):
        speech.generate_synthetic(("yes",), 1)
    with pytest.raises(DataNotFoundError, match="apt-get install espeak-ng"):
        speech.synthesize_clip("yes", 0, 0)


@needs_espeak
@pytest.mark.parametrize("name", ["speech4", "speech10"])
def test_speech_task_shapes_and_labels(monkeypatch, name):
    small = speech.generate_synthetic(speech.KEYWORDS10, 12, seed=0)
    monkeypatch.setattr(speech, "synthetic_clips", lambda *a, **k: small)
    task = tasks.get_task(name)
    s = task.load(source="synthetic")
    assert s.synthetic and "synthetic" in s.source
    for x, y in ((s.x_train, s.y_train), (s.x_val, s.y_val), (s.x_test, s.y_test)):
        assert x.shape[1:] == (task.steps, task.features) == (63, 40) and x.dtype == np.float32
        assert set(y) <= set(range(task.classes))
    assert set(s.y_train) == set(range(task.classes)) and len(task.labels) == task.classes
    assert len(s.y_train) + len(s.y_val) + len(s.y_test) == 12 * task.classes
    np.testing.assert_allclose(s.x_train.mean(axis=(0, 1)), 0.0, atol=1e-4)  # standardized on train


def test_speech_source_is_checked_and_mnist_has_no_synthetic_source():
    with pytest.raises(ValueError, match="`source` must be one of"):
        tasks.get_task("speech4").load(source="radio")
    with pytest.raises(ValueError, match="MNIST has no 'synthetic' source"):
        tasks.get_task("mnist_row").load(source="synthetic")


@needs_espeak
def test_make_speech_script_writes_the_cache_and_wavs(tmp_path, capsys):


    from jaxgru.studies import make_speech
    assert make_speech.main(["--per-word", "1", "--cache-dir", str(tmp_path), "--wav-dir", str(tmp_path / "w")]) == 0
    assert len(list((tmp_path / "w").rglob("*.wav"))) == 10
    assert len(list(tmp_path.glob("synthetic_keywords_*.npz"))) == 1
    assert make_speech.main(["--per-word", "0", "--cache-dir", str(tmp_path)]) == 2
    assert "per_word must be >= 1" in capsys.readouterr().err
