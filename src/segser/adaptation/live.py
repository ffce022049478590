"""Adaptation of one voice as it is heard (a live stream): the guarded rule of
:mod:`segser.adaptation.policy` over the voiced segments so far, in constant memory.

Each segment is adapted with the statistics of the voiced segments heard up to it, once there are
``MIN_SPEAKER_SEGMENTS`` of them, blended with the unadapted logits as far as the guard hears one mood
(:meth:`~segser.adaptation.mood.Sample.fallback_weight`: the mood check when the model has one, else the
share of the unadapted model's commonest emotion around ``mood_share``; ``guarded=False`` drops the guard).

>>> live = LiveAdaptation(load_model("default-4class"))             # doctest: +SKIP
>>> logits, heard = live.logits(X, speech, spans, gate=0.2)         # doctest: +SKIP
"""
from __future__ import annotations

import numpy as np

from segser.adaptation.heads import adapted_logits
from segser.adaptation.mood import ONE_MOOD_SHARE, Sample
from segser.adaptation.policy import MIN_SPEAKER_SEGMENTS, AdaptationNote, Mode, plan_for
from segser.errors import check_number


class LiveAdaptation:
    def __init__(self, model, *, guarded: bool = True, mood_share: float = ONE_MOOD_SHARE):
        plan_for(model, "speaker", inputs=1, live=True)  # refuses what cannot be adapted live, saying why
        self.mood_share = check_number("mood_share", mood_share, lo=0.3, hi=1.0)
        self.model, self.guarded = model, guarded
        self.sample = Sample(len(model.classes), model.mood if guarded else None, model.reference)
        self.seconds = 0.0

    def weight(self) -> float:
        """The unadapted logits' weight now: 1 before the warm-up, then the guard's."""
        if self.sample.n < MIN_SPEAKER_SEGMENTS:
            return 1.0
        return self.sample.fallback_weight(self.mood_share)[0] if self.guarded else 0.0

    def adapting(self) -> bool:
        return self.weight() < 1.0

    def logits(self, X: np.ndarray, speech, spans, *, gate: float) -> tuple[np.ndarray, list[float]]:
        """Logits of these segments (in order) and, per segment, the seconds of speech its statistics come from
        (0: not adapted)."""
        raw = self.model.logits(X)
        out, heard = raw.copy(), []
        for i, ((s, e), share) in enumerate(zip(spans, speech)):
            if share >= gate:
                self.sample.add(X[i:i + 1])
                self.sample.vote(raw[i:i + 1])
                self.seconds += (e - s) * float(share)
            w = self.weight()
            if w < 1.0:
                adapted = adapted_logits(self.model, X[i:i + 1], self.sample.stats.statistics())[0]
                out[i] = (1 - w) * adapted + w * raw[i]
                heard.append(round(self.seconds, 1))
            else:
                heard.append(0.0)
        return out, heard

    def note(self) -> AdaptationNote:
        n, w = self.sample.n, self.weight()
        evidence = self.sample.fallback_weight(self.mood_share)[1] if n >= MIN_SPEAKER_SEGMENTS and self.guarded else (
            {"dominant_share": round(self.sample.share(), 3)} if n else {})
        reason = "" if w < 1.0 else (f"fewer than {MIN_SPEAKER_SEGMENTS} segments of speech" if n < MIN_SPEAKER_SEGMENTS
                                     else "one mood so far: not adapted")
        if w >= 1.0:
            return AdaptationNote(Mode.NONE, segments=n, speech_seconds=round(self.seconds, 1), guarded=self.guarded,
                                  reason=reason, **evidence)
        return AdaptationNote(Mode.SPEAKER, Mode.NONE if w > 0 else None, w if w > 0 else 0.0, segments=n,
                              speech_seconds=round(self.seconds, 1), guarded=self.guarded, **evidence)
