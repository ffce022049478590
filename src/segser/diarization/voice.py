"""The voice encoder of the speaker pass: Resemblyzer's GE2E LSTM (its weights ship in the ``resemblyzer``
package and are found by the resolver) and its input, 40-band power mel frames every 10 ms, computed block by
block (:class:`StreamedMel`, :class:`VoiceFeatures`) into :class:`~segser.io.spill.SpillRows`: a recording's
frames wait on disk until its level is known, then its windows are embedded in order
(:func:`embed_windows`), so memory does not grow with the recording's length."""
from __future__ import annotations

import math
import warnings
from dataclasses import dataclass, field
from functools import lru_cache

import numpy as np

from segser.encoders.features.mel import slaney_mel_matrix
from segser.errors import ConfigError
from segser.io.spill import SpillRows
from segser.segmentation.vad import SpeechShare
from segser.weights import resolve

SAMPLE_RATE = 16000
MEL_STEP = 160  # 10 ms
WINDOW_FRAMES = 160  # Resemblyzer's partial utterance: 1.6 s
VAD_SECONDS = 512 / SAMPLE_RATE
CHUNK = 1 << 20  # samples pushed at once when a whole signal is given
VOICE_BATCH = 128  # windows through the voice encoder at once


def _voice_encoder_module():
    import torch
    from torch import nn

    class VoiceEncoder(nn.Module):
        """Resemblyzer's speaker encoder: 3-layer LSTM over 40 mel bands, last state -> 256-d, ReLU, L2 norm."""

        def __init__(self):
            super().__init__()
            self.lstm = nn.LSTM(40, 256, 3, batch_first=True)
            self.linear = nn.Linear(256, 256)

        def forward(self, mels):
            _, (hidden, _) = self.lstm(mels)
            raw = torch.relu(self.linear(hidden[-1]))
            return raw / torch.norm(raw, dim=1, keepdim=True).clamp_min(1e-9)

    return VoiceEncoder


@lru_cache(maxsize=2)
def voice_encoder(path: str | None = None):
    """The voice encoder with Resemblyzer's weights (``{"model_state": ...}`` as its package ships them)."""
    import torch

    file = resolve("resemblyzer", path)
    try:
        with warnings.catch_warnings():  # a refused file is our error message, not torch's warnings
            warnings.simplefilter("ignore")
            state = torch.load(str(file), map_location="cpu", weights_only=True)["model_state"]
        net = _voice_encoder_module()()
        net.load_state_dict({k: v for k, v in state.items() if not k.startswith("similarity_")})
    except Exception as exc:
        raise ConfigError(f"{file.name}: not a Resemblyzer voice encoder checkpoint ({type(exc).__name__}: "
                          f"{str(exc)[:120]})") from None
    return net.eval()


@lru_cache(maxsize=1)
def _mel_matrix():

    return slaney_mel_matrix(n_mels=40, n_fft=400, sample_rate=SAMPLE_RATE)


class StreamedMel:
    """Resemblyzer's input, block by block: power mel spectrogram, 40 bands, 25 ms Hann windows every 10 ms,
    centred (zero padding), as ``librosa.feature.melspectrogram(n_fft=400, hop_length=160, n_mels=40)``;
    only the samples the next frame needs are kept between pushes."""

    N_FFT, HALF = 400, 200

    def __init__(self):
        self.buf = np.zeros(self.HALF, np.float32)  # the centred first frame's left padding
        self.buf_start = -self.HALF  # signal index of buf[0]
        self.next = 0  # next frame to compute
        self.samples = 0
        self.rows = SpillRows(40, memory_rows=8192, chunk=8192)

    def push(self, x: np.ndarray) -> None:
        self.samples += len(x)
        self.buf = np.concatenate([self.buf, np.asarray(x, np.float32)])
        self._frames((self.buf_start + len(self.buf) - self.HALF) // MEL_STEP)

    def finish(self) -> SpillRows:
        self.buf = np.concatenate([self.buf, np.zeros(self.HALF, np.float32)])
        self._frames(self.samples // MEL_STEP)
        return self.rows

    def _frames(self, last: int) -> None:
        window = (0.5 - 0.5 * np.cos(2 * np.pi * np.arange(self.N_FFT) / self.N_FFT)).astype(np.float32)
        for a in range(self.next, last + 1, 4096):
            n = min(last + 1, a + 4096) - a
            off = a * MEL_STEP - self.HALF - self.buf_start
            idx = off + (np.arange(n) * MEL_STEP)[:, None] + np.arange(self.N_FFT)[None, :]
            spec = np.abs(np.fft.rfft(self.buf[idx] * window, axis=1)) ** 2
            self.rows.append(spec.astype(np.float32) @ _mel_matrix().T)
        self.next = max(self.next, last + 1)
        drop = self.next * MEL_STEP - self.HALF - self.buf_start
        if drop > 0:
            self.buf, self.buf_start = self.buf[drop:], self.buf_start + drop


def voice_mel(x: np.ndarray, *, gain: float = 1.0) -> np.ndarray:
    """:class:`StreamedMel` of ``gain * x`` in one go; (frames, 40)."""
    m = StreamedMel()
    for i in range(0, len(x), CHUNK):
        m.push(x[i:i + CHUNK])
    rows = m.finish()
    out = rows.read(0, len(rows))
    rows.close()
    return out * np.float32(gain * gain) if gain != 1.0 else out


def gain_for(rms: float, target_dbfs: float = -30.0) -> float:
    """Resemblyzer's preprocessing as a gain: raise (never lower) the level to ``target_dbfs`` RMS."""
    if rms <= 0:
        return 1.0
    gain_db = target_dbfs - 20 * math.log10(rms)
    return 10 ** (gain_db / 20) if gain_db > 0 else 1.0


@dataclass
class VoiceFeatures:
    """What the speaker pass keeps of a recording: the voice encoder's mel frames (at the recording's own level,
    spilled to disk past 80 s), the speech flags of Silero VAD per 32 ms, and the level; pushed block by block."""

    mel: StreamedMel = field(default_factory=StreamedMel)
    samples: int = 0
    sumsq: float = 0.0
    vad: SpeechShare | None = None  # an emotion pass's (share_vad), else its own, made when first needed
    shared: bool = False

    def share_vad(self, share: SpeechShare) -> None:
        """Take the speech flags from ``share`` (an emotion pass's, fed the same blocks, keeping every flag)
        instead of running the VAD a second time."""
        share.keep = True
        self.vad, self.shared = share, True

    def push(self, x: np.ndarray) -> None:
        x = np.asarray(x, np.float32)
        self.samples += len(x)
        self.sumsq += float(np.dot(x.astype(np.float64), x.astype(np.float64)))
        self.mel.push(x)
        if not self.shared:
            if self.vad is None:
                self.vad = SpeechShare(SAMPLE_RATE)
            self.vad.push(x)

    def finish(self) -> tuple[SpillRows, float, np.ndarray]:
        """(mel frames at the recording's own level, the gain that brings them to Resemblyzer's, speech flags)."""
        if not self.shared:
            if self.vad is None:
                self.vad = SpeechShare(SAMPLE_RATE)
            self.vad.push(np.zeros(0, np.float32), last=True)
        elif not self.vad.final or self.vad.first:
            raise RuntimeError("the shared speech flags are not complete")
        return self.mel.finish(), gain_for(math.sqrt(self.sumsq / max(self.samples, 1))), self.vad.speech


def embed_windows(mel: SpillRows, starts: np.ndarray, *, gain: float = 1.0, encoder_path=None) -> np.ndarray:
    """The voice embedding (256-d) of the 1.6 s window starting at each frame of ``starts`` (ascending), read
    from ``mel`` batch by batch; the last windows may reach past the end: zero frames there."""
    import torch  # its LSTM: 1 h of windows in 15 s, a numpy LSTM took 21 s

    net = voice_encoder(encoder_path)
    out = []
    for b in range(0, len(starts), VOICE_BATCH):
        batch = starts[b:b + VOICE_BATCH]
        first = int(batch[0])
        frames = mel.read(first, int(batch[-1]) + WINDOW_FRAMES) * np.float32(gain * gain)
        frames = np.pad(frames, ((0, int(batch[-1]) + WINDOW_FRAMES - first - len(frames)), (0, 0)))
        windows = np.stack([frames[a - first: a - first + WINDOW_FRAMES] for a in batch])
        with torch.no_grad():
            out.append(net(torch.from_numpy(windows)).numpy())
    return np.concatenate(out) if out else np.zeros((0, 256), np.float32)
