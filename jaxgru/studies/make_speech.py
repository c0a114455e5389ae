"""Makes (or finds cached) the synthetic keyword set that the speech tasks use offline.

    python experiments/make_speech.py                      # 1500 clips of each of 10 keywords
    python experiments/make_speech.py --per-word 200 --wav-dir /tmp/clips   # also write .wav files

Words are spoken by espeak-ng (Debian: apt-get install espeak-ng) in 8 English accents x 18 voice
variants, at random speed and pitch, placed at random in a 1 s window over coloured noise
(``jaxgru.data.speech``). The set is SYNTHETIC: a stand-in for Google Speech Commands where it cannot
be downloaded, and every result made from it says so.
"""

from __future__ import annotations

import argparse
import sys
import wave
from pathlib import Path

import numpy as np

from jaxgru.data import speech
from jaxgru.data.audio import SAMPLE_RATE
from jaxgru.data.sources import DataNotFoundError
from jaxgru.data.tasks import SYNTHETIC_PER_WORD
from jaxgru.runs.config import command_line_message


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--per-word", type=int, default=SYNTHETIC_PER_WORD, help="clips per keyword")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--cache-dir", default=None, help=f"default ${speech.CACHE_ENV} or ~/.cache/jaxgru")
    p.add_argument("--wav-dir", default=None, help="also write every clip as <wav-dir>/<split>/<word>/<i>.wav")
    args = p.parse_args(argv)
    try:
        clips = speech.synthetic_clips(speech.KEYWORDS10, args.per_word, args.seed, folder=args.cache_dir,
                                       progress=True)
    except (DataNotFoundError, ValueError, RuntimeError) as err:
        print(f"error: {command_line_message(str(err))}", file=sys.stderr)
        return 2
    counts = {name: int(np.sum(clips["split"] == i)) for i, name in enumerate(speech.SPLITS)}
    print(f"{len(clips['label'])} synthetic clips of {list(speech.KEYWORDS10)}: {counts}")
    if args.wav_dir:
        for i, (pcm, label, split) in enumerate(zip(clips["audio"], clips["label"], clips["split"])):
            path = Path(args.wav_dir) / speech.SPLITS[split] / speech.KEYWORDS10[label] / f"{i:06d}.wav"
            path.parent.mkdir(parents=True, exist_ok=True)
            with wave.open(str(path), "wb") as w:
                w.setnchannels(1)
                w.setsampwidth(2)
                w.setframerate(SAMPLE_RATE)
                w.writeframes(pcm.astype("<i2").tobytes())
        print(f"wrote .wav files under {args.wav_dir}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
