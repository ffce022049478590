"""Long recordings (issue 43): memory that does not grow with a recording's length, and voices counted the same
however long the call.

1. ``segser predict FILE`` (the default model and runtime, ``--adapt auto``: the recording its own group, its
   segment embeddings kept on disk until its statistics are known) on the real two-speaker call
   (../shared/data/conversation/sample.wav) repeated to 10 minutes, 2 hours and 10 hours: wall time and peak RSS,
   each in a fresh process.
2. ``segser predict FILE --speakers auto`` on a 4-hour meeting (ASED conversations one after another, the long file of
   benchmarks/conversations.py): wall time, peak RSS, voices found.
3. Voices found in the same call repeated to 10 minutes and 1 hour, and in one EmoDB speaker's seven clips (13.9 s,
   seven emotions), each with ``--speakers auto``.

    python benchmarks/long_recordings.py [--hours 10] [--meeting-hours 4]

Writes benchmarks/results/long-recordings.json.
"""
import argparse
import sys
import tempfile
from pathlib import Path

import numpy as np
import soundfile as sf

sys.path.insert(0, str(Path(__file__).resolve().parent))
from common import fresh_predict, save  # noqa: E402
from conversations import long_signal  # noqa: E402

from segser.io.audio import load  # noqa: E402
from segser.settings import data_dir  # noqa: E402


def run(path: Path, *extra) -> dict:
    """Wall time and peak RSS of ``segser predict PATH EXTRA`` in a fresh process, and what it found."""
    figures, doc = fresh_predict(path, *extra)
    figures["segments"] = len(doc["segments"])
    if "speakers" in doc:
        figures["speakers_found"] = len(doc["speakers"])
    return figures


def tile(x: np.ndarray, seconds: float, path: Path) -> Path:
    """``x`` repeated to ``seconds``, written block by block (a 10 h file is never held whole)."""
    with sf.SoundFile(str(path), "w", 16000, 1, subtype="PCM_16") as f:
        left = int(seconds * 16000)
        while left > 0:
            f.write(x[:left])
            left -= len(x[:left])
    return path


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--hours", type=float, default=10.0, help="the longest recording predicted")
    ap.add_argument("--meeting-hours", type=float, default=4.0, help="the meeting's length with --speakers auto")
    args = ap.parse_args()
    call = load(data_dir() / "conversation" / "sample.wav")
    figures = {"predict": {}, "voices": {}}
    with tempfile.TemporaryDirectory() as tmp:
        tmp = Path(tmp)
        for label, seconds in (("10 min", 600), ("2 h", 7200), (f"{args.hours:g} h", args.hours * 3600)):
            path = tile(call, seconds, tmp / "call.wav")
            figures["predict"][label] = run(path)
            print("predict", label, figures["predict"][label], flush=True)
            path.unlink()
        for label, seconds in (("30 s (the call)", 30), ("10 min", 600), ("1 h", 3600)):
            path = tile(call, seconds, tmp / "call.wav")
            figures["voices"][f"sample.wav repeated to {label}"] = run(path, "--speakers", "auto")
            print("voices", label, figures["voices"][f"sample.wav repeated to {label}"], flush=True)
        clips = sorted((data_dir() / "emodb").glob("03*.flac"))[:7]
        sf.write(tmp / "one.wav", np.concatenate([load(f) for f in clips]), 16000)
        figures["voices"]["one EmoDB speaker, seven clips"] = run(tmp / "one.wav", "--speakers", "auto")
        figures["voices"]["one EmoDB speaker, seven clips"]["clips"] = [c.name for c in clips]
        sf.write(tmp / "meeting.flac", long_signal(args.meeting_hours * 60), 16000)
        figures["meeting"] = {"hours": args.meeting_hours, **run(tmp / "meeting.flac", "--speakers", "auto",
                                                                   "--model", "default-4class")}
        print("meeting", figures["meeting"], flush=True)
    save("long-recordings", figures)


if __name__ == "__main__":
    main()
