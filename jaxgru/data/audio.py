"""Log-mel features of 1-second clips, as the paper's keyword-spotting tasks use them.

Plain NumPy (an STFT and a triangular mel filter bank are a few lines; this keeps TensorFlow
and librosa out of the core). Defaults give the paper's shape: 16 kHz, ``n_fft`` 512, hop 256,
centre padding (reflect) -> ``1 + 16000 // 256 = 63`` frames of 40 log-mel bands.
"""

from __future__ import annotations

import numpy as np

SAMPLE_RATE = 16000
CLIP_SAMPLES = SAMPLE_RATE  # one second
N_FFT, HOP, N_MELS = 512, 256, 40
F_MIN = 20.0
LOG_FLOOR = 1e-6  # added to mel power before the log: silence maps to log(1e-6), not -inf


def hz_to_mel(f):
    """HTK mel scale."""
    return 2595.0 * np.log10(1.0 + np.asarray(f, np.float64) / 700.0)


def mel_to_hz(m):
    return 700.0 * (10.0 ** (np.asarray(m, np.float64) / 2595.0) - 1.0)


def mel_filterbank(
    n_mels: int = N_MELS, n_fft: int = N_FFT, sample_rate: int = SAMPLE_RATE, f_min: float = F_MIN,
    f_max: float | None = None,
) -> np.ndarray:
    """Triangular filters ``float32[n_fft // 2 + 1, n_mels]``, centres equally spaced in mel,
    each peaking at 1 (HTK style, no area normalization)."""
    f_max = sample_rate / 2 if f_max is None else f_max
    edges = mel_to_hz(np.linspace(hz_to_mel(f_min), hz_to_mel(f_max), n_mels + 2))
    freqs = np.linspace(0.0, sample_rate / 2, n_fft // 2 + 1)
    lower, centre, upper = edges[:-2, None], edges[1:-1, None], edges[2:, None]
    rising = (freqs[None] - lower) / (centre - lower)
    falling = (upper - freqs[None]) / (upper - centre)
    return np.maximum(0.0, np.minimum(rising, falling)).T.astype(np.float32)


def n_frames(samples: int = CLIP_SAMPLES, hop: int = HOP) -> int:
    """Frames of a centre-padded STFT of ``samples`` samples."""
    return 1 + samples // hop


def log_mel(
    audio: np.ndarray, *, n_fft: int = N_FFT, hop: int = HOP, n_mels: int = N_MELS,
    sample_rate: int = SAMPLE_RATE, batch: int = 512,
) -> np.ndarray:
    """Log-mel energies ``float32[N, 1 + L // hop, n_mels]`` of clips ``audio: [N, L]``.

    Integer audio (int16, as Speech Commands stores it) is scaled to [-1, 1). Each frame is a
    periodic Hann window of ``n_fft`` samples centred on ``t * hop`` (the clip reflect-padded by
    ``n_fft // 2`` on both sides); the feature is ``log(mel power + 1e-6)``.
    """
    audio = np.asarray(audio)
    if audio.ndim != 2 or audio.shape[1] <= n_fft // 2:
        raise ValueError(f"audio must be [N, L] with L > {n_fft // 2} samples; got shape {audio.shape}.")
    if np.issubdtype(audio.dtype, np.integer):
        audio = audio.astype(np.float32) / 32768.0
    window = (0.5 - 0.5 * np.cos(2 * np.pi * np.arange(n_fft) / n_fft)).astype(np.float32)
    fb = mel_filterbank(n_mels, n_fft, sample_rate)
    frames = n_frames(audio.shape[1], hop)
    starts = np.arange(frames)[:, None] * hop + np.arange(n_fft)[None]  # [frames, n_fft] into the padded clip
    out = np.empty((len(audio), frames, n_mels), np.float32)
    for i in range(0, len(audio), batch):
        padded = np.pad(audio[i : i + batch].astype(np.float32), ((0, 0), (n_fft // 2, n_fft // 2)), mode="reflect")
        spectrum = np.fft.rfft(padded[:, starts] * window, axis=-1)
        power = (spectrum.real**2 + spectrum.imag**2).astype(np.float32)
        out[i : i + batch] = np.log(power @ fb + LOG_FLOOR)
    return out
