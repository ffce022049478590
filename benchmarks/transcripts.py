"""Words and feelings (issue 41): the transcript's accuracy, emotion per utterance against emotion per fixed window,
how often the timeline changes its mind, and what transcribing an hour costs.

1. Word error rate (jiwer, after lower-casing and dropping punctuation) against known texts: TESS (Opus copy; each
   file's words are the carrier phrase "Say the word" and its target word; tiny.en), nEMO (Opus copy; its
   ``data.tsv`` holds the normalised transcripts; base, Polish) and the 7 unaltered EmoDB files (its documented
   sentences; base, German). Clips drawn with seed 0.
2. On the two-speaker conversations of benchmarks/conversations.py (real ASED and SAVEE clips, no built-in model
   trained on them), each reference turn's emotion from the rows of the shipped pipeline: fixed windows against
   utterances (their emotion from the windows they overlap), with the speakers found and the true speakers, both
   adapted per speaker as shipped; and unadapted, the utterances embedded whole against both. How utterances are
   cut: given the speaker of most of them or cut where the found speaker changes, with or without utterances
   without words for the speech the recogniser left (turn UA, found speakers); and which speaker each word's time
   gets, against the true speaker.
3. Stability: label changes per minute of speech of the rows (windows, utterances) on sample.wav and the
   conversations.
4. One hour of English conversation (SAVEE turns, the long file of benchmarks/conversations.py) with
   ``--transcribe --speakers auto`` (tiny.en, and base detecting the language) against plain ``segser predict``:
   wall time and peak RSS, fresh processes.
5. The worst case of a piece's time: 3 minutes of Amharic conversation (ASED) forced through tiny.en (English
   only), where every piece's text looks wrong and the recogniser retries at higher temperatures: faster-whisper's
   six temperatures against segser's three, and the same on 3 minutes of SAVEE (English).

    python benchmarks/transcripts.py [--clips 200] [--conversations 16] [--long-minutes 60]

Writes benchmarks/results/transcripts.json.
"""
import argparse
import json
import re
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import pandas as pd
import soundfile as sf

sys.path.insert(0, str(Path(__file__).resolve().parent))
from common import fresh_predict, save  # noqa: E402
from conversations import MODEL, build, turn_labels  # noqa: E402

from segser.adaptation.policy import NOBODY, adapt_rows, plan_for  # noqa: E402
from segser.encoders.engine import embed_spans  # noqa: E402
from segser.io.audio import load  # noqa: E402
from segser.model import load_model  # noqa: E402
from segser.pipeline import Pipeline  # noqa: E402
from segser.settings import data_dir  # noqa: E402
from segser.training import corpora  # noqa: E402
from segser.training import labels as labelsets  # noqa: E402
from segser.training.metrics import classification_metrics  # noqa: E402
from segser.words.transcribe import Transcriber, Transcript, WordOptions  # noqa: E402
from segser.words.utterances import JOIN_WORDLESS, SPLIT_AT_SPEAKER, utterance_logits, utterances, wordless  # noqa: E402

EMODB_SENTENCES = {  # the corpus's ten sentences (Burkhardt et al. 2005), by text id
    "a01": "Der Lappen liegt auf dem Eisschrank.", "a02": "Das will sie am Mittwoch abgeben.",
    "a04": "Heute abend könnte ich es ihm sagen.", "a05": "Das schwarze Stück Papier befindet sich da oben neben dem Holzstück.",
    "a07": "In sieben Stunden wird es soweit sein.", "b01": "Was sind denn das für Tüten, die da unter dem Tisch stehen?",
    "b02": "Sie haben es gerade hochgetragen und jetzt gehen sie wieder runter.",
    "b03": "An den Wochenenden bin ich jetzt immer nach Hause gefahren und habe Agnes besucht.",
    "b09": "Ich will das eben wegbringen und dann mit Karl was trinken gehen.",
    "b10": "Die wird auf dem Platz sein, wo wir sie immer hinlegen."}


def normal(text: str) -> str:
    return re.sub(r"\s+", " ", re.sub(r"[^\w\s']", " ", text.lower())).strip()


def wer(pairs) -> dict:
    import jiwer

    refs, hyps = [normal(r) for r, _ in pairs], [normal(h) for _, h in pairs]
    return {"WER": float(jiwer.wer(refs, hyps)), "clips": len(pairs), "words": int(sum(len(r.split()) for r in refs))}


def transcribed(transcriber: Transcriber, path) -> str:
    """The words of one clip as the pipeline transcribes it (its own VAD flags: a Transcript over the whole clip)."""
    from segser.segmentation.vad import SpeechShare

    x = load(path, sample_rate=16000)
    vad = SpeechShare(16000)
    vad.push(x, last=True)
    t = Transcript(transcriber, vad)
    t.push(x)
    t.finish()
    return " ".join(w.text for w in t.words)


def word_error_rates(clips: int) -> dict:
    rng = np.random.default_rng(0)
    out = {}
    tess = sorted((data_dir() / "tess").glob("*.ogg"))
    tess = [tess[i] for i in rng.choice(len(tess), clips, replace=False)]
    tiny = Transcriber(WordOptions(asr="tiny.en", language="en"))
    t0 = time.time()
    out["tess"] = {**wer([(f"say the word {p.stem.split('_')[1]}", transcribed(tiny, p)) for p in tess]),
                   "asr": "tiny.en", "copy": "Opus-compressed", "seconds": round(time.time() - t0, 1)}
    print("tess", out["tess"], flush=True)
    table = pd.read_csv(data_dir() / "nemo" / "data.tsv", sep="\t")
    table = table.iloc[rng.choice(len(table), clips, replace=False)]
    base = Transcriber(WordOptions(asr="base", language="pl"))
    t0 = time.time()
    out["nemo"] = {**wer([(r.normalized_text, transcribed(base, data_dir() / "nemo" / r.file_id.replace(".wav", ".ogg")))
                          for r in table.itertuples()]), "asr": "base", "copy": "Opus-compressed",
                   "seconds": round(time.time() - t0, 1)}
    print("nemo", out["nemo"], flush=True)
    german = Transcriber(WordOptions(asr="base", language="de"))
    originals = sorted((data_dir() / "emodb-originals").glob("*.wav"))
    pairs = [(EMODB_SENTENCES[p.stem[2:5]], transcribed(german, p)) for p in originals]
    out["emodb"] = {**wer(pairs), "asr": "base", "copy": "unaltered originals", "pairs": pairs}
    print("emodb", out["emodb"], flush=True)
    return out


def label_changes_per_minute(rows: pd.DataFrame) -> float:
    """How often consecutive rows with an emotion change it, per minute of their speech."""
    voiced = rows[~rows["label"].isin(["no speech"])]
    changes = int((voiced["label"].to_numpy()[1:] != voiced["label"].to_numpy()[:-1]).sum())
    minutes = float(((voiced["end"] - voiced["start"]) * voiced["speech"]).sum()) / 60
    return changes / max(minutes, 1e-9)


def turn_votes(reference, spans, logits, speech, gate):
    """Each reference turn's class from rows (spans, logits): the rows whose middle falls in the turn (turn_labels)."""
    return turn_labels(spans, logits, speech, reference, None, gate)


def conversations(n: int) -> dict:
    model = load_model(MODEL)
    classes = model.classes
    found = Pipeline(model, speakers="auto", transcribe=WordOptions(asr="base"))
    plain = Pipeline(model, transcribe=WordOptions(asr="base"))
    gate = plain.options.gate(model)
    out = {}
    for corpus in ("ased", "savee"):
        m, _ = labelsets.apply(corpora.load(corpus, data_dir() / corpus), "4class")
        m = m.reset_index(drop=True)
        y, preds, stability = [], {}, {"windows": [], "utterances": []}
        attributed = {"majority": [], "split at changes": []}
        cuts = {}
        with tempfile.TemporaryDirectory() as tmp:
            for seed in range(n):
                x, reference = build(m, seed, 2)
                path = Path(tmp) / f"c{seed}.wav"
                sf.write(path, x, 16000)
                y += [classes.index(r[3]) for r in reference]
                # found speakers, as shipped: rows per utterance; and the windows behind them
                r = found.run_file(path)
                enc = plain.encode(path)
                voiced = enc.speech >= gate
                spans, speech = enc.spans, enc.speech
                found_speaker = np.array(_speakers_at(r, spans), dtype=object)
                win_found, _, _ = adapt_rows(model, plan_for(model, "auto", inputs=1, speakers="auto"), enc.rows,
                                             voiced=voiced, groups=found_speaker, seconds=enc.speech_seconds)
                mids = spans.mean(1)
                true_speaker = np.array([next((t[2] for t in reference if t[0] <= c < t[1]), NOBODY) for c in mids],
                                        dtype=object)
                win_true, _, _ = adapt_rows(model, plan_for(model, "auto", inputs=1, speakers="auto"), enc.rows,
                                            voiced=voiced, groups=true_speaker, seconds=enc.speech_seconds)
                raw = np.concatenate([model.logits(X) for _, X in enc.rows.chunks()])
                sentences = enc.transcript.sentences
                at_found = lambda times, r=r: _speakers_at(r, np.array([(t, t + 1e-3) for t in times]))  # noqa: E731
                at_true = lambda times: [next((t[2] for t in reference if t[0] <= c < t[1]), NOBODY) for c in times]  # noqa: E731

                def rows(speaker_of, logits, split=SPLIT_AT_SPEAKER, fill=JOIN_WORDLESS):
                    utts = utterances(sentences, speaker_of, split_at_speaker=split)
                    utts = wordless(utts, spans, voiced, speaker_of, join=fill) if fill is not None else utts
                    u_spans = np.array([(u.start, u.end) for u in utts]).reshape(-1, 2)
                    if not len(utts):
                        return spans, logits, speech, utts
                    ul, us = utterance_logits(utts, spans, logits, speech, gate)
                    return u_spans, ul, us, utts

                for name, wl, who in (("found speakers", win_found, at_found), ("true speakers", win_true, at_true),
                                      ("unadapted", raw, at_found)):
                    preds.setdefault(f"windows, {name}", []).extend(turn_votes(reference, spans, wl, speech, gate))
                    preds.setdefault(f"utterances, {name}", []).extend(turn_votes(reference, *rows(who, wl)[:3], gate))
                u_spans, _, _, utts = rows(at_found, raw)
                whole = model.logits(embed_spans(model.encoder, x, u_spans)) if len(utts) else raw
                preds.setdefault("utterances embedded whole, unadapted", []).extend(
                    turn_votes(reference, u_spans, whole, np.ones(len(u_spans)), gate) if len(utts) else
                    turn_votes(reference, spans, raw, speech, gate))
                for split in (False, True):
                    for fill, how in ((None, "dropped"), (True, "a row per run of one speaker"), (False, "a row per segment")):
                        key = f"{'cut at speaker changes' if split else 'speaker of most of it'}; speech without words: {how}"
                        cuts.setdefault(key, []).extend(turn_votes(reference, *rows(at_found, win_found, split, fill)[:3], gate))
                window_rows = pd.DataFrame({"start": spans[:, 0], "end": spans[:, 1], "speech": speech,
                                            "label": [classes[k] if v else "no speech" for k, v in
                                                      zip(win_found.argmax(1), voiced)]})
                stability["windows"].append(label_changes_per_minute(window_rows))
                stability["utterances"].append(label_changes_per_minute(r.segments))
                for split, key in ((False, "majority"), (True, "split at changes")):
                    attributed[key].append(_attribution(utterances(sentences, at_found, split_at_speaker=split), reference))
                enc.rows.close()
        k = len(classes)
        out[corpus] = {"turns": len(y), "conversations": n,
                       "turn_UA": {name: classification_metrics(y, p, k)["UA"] for name, p in preds.items()},
                       "turn_UA_by_cut": {name: classification_metrics(y, p, k)["UA"] for name, p in cuts.items()},
                       "label_changes_per_minute": {name: float(np.mean(v)) for name, v in stability.items()},
                       "word_time_with_the_true_speaker": {name: float(np.mean(v)) for name, v in attributed.items()}}
        print(corpus, out[corpus], flush=True)
    return out


def _speakers_at(result, spans) -> list[str]:
    from segser.diarization.turns import Turns

    return Turns(result.turns, list(result.speakers)).speakers_of(spans)


def _attribution(utts, reference) -> float:
    """The share of the words' time whose utterance names the speaker who said it, the found speakers matched to
    the true ones by most shared time."""
    pairs = {}
    for u in utts:
        for w in u.words:
            mid = (w.start + w.end) / 2
            true = next((t[2] for t in reference if t[0] <= mid < t[1]), None)
            if true is not None:
                pairs[(u.speaker, true)] = pairs.get((u.speaker, true), 0.0) + (w.end - w.start + 0.02)
    best = {}
    for (found, true), _ in sorted(pairs.items(), key=lambda kv: -kv[1]):
        if found not in best and true not in best.values():
            best[found] = true
    total = sum(pairs.values())
    return sum(s for (f, t), s in pairs.items() if best.get(f) == t) / max(total, 1e-9)


def sample_stability() -> dict:
    path = data_dir() / "conversation" / "sample.wav"
    r = Pipeline(MODEL, speakers="auto", transcribe=WordOptions(language="en")).run_file(path)
    w = Pipeline(MODEL, speakers="auto").run_file(path)
    return {"windows": label_changes_per_minute(w.segments), "utterances": label_changes_per_minute(r.segments),
            "utterances_n": int(len(r.segments)), "windows_n": int(len(w.segments))}


def one_hour(minutes: float) -> dict:
    from conversations import long_signal

    out = {}
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "long.flac"
        x = long_signal(minutes, "savee")
        sf.write(path, x, 16000)
        out["audio_minutes"] = round(len(x) / 16000 / 60, 1)
        del x
        runs = {"predict": [], "predict --speakers auto": ["--speakers", "auto"],
                "--transcribe --speakers auto (tiny.en)": ["--transcribe", "--language", "en", "--speakers", "auto"],
                "--transcribe --speakers auto (base, language detected)": ["--transcribe", "--speakers", "auto"]}
        for name, extra in runs.items():
            out[name] = fresh_predict(path, "--model", MODEL, *extra)[0]
            print(name, out[name], flush=True)
    return out


def temperatures() -> dict:
    from conversations import long_signal

    import segser.words.transcribe as words
    from segser.segmentation.vad import SpeechShare

    out = {}
    for corpus in ("savee", "ased"):
        x = long_signal(3, corpus)
        for name, temps in (("faster-whisper's six", (0.0, 0.2, 0.4, 0.6, 0.8, 1.0)), ("segser's three", words.TEMPERATURES)):
            shipped, words.TEMPERATURES = words.TEMPERATURES, temps
            try:
                t = time.time()
                vad = SpeechShare(16000)
                vad.push(x, last=True)
                transcript = Transcript(Transcriber(WordOptions(asr="tiny.en")), vad)
                transcript.push(x)
                transcript.finish()
            finally:
                words.TEMPERATURES = shipped
            out[f"{corpus}, {name}"] = {"audio_s": round(len(x) / 16000, 1), "wall_s": round(time.time() - t, 1),
                                        "words": len(transcript.words)}
            print(corpus, name, out[f"{corpus}, {name}"], flush=True)
    return out


PARTS = ("wer", "sample", "conversations", "temperatures", "long")


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--clips", type=int, default=200, help="clips of TESS and of nEMO for the word error rate")
    ap.add_argument("--conversations", type=int, default=16, help="two-speaker conversations per corpus")
    ap.add_argument("--long-minutes", type=float, default=60, help="the long conversation's length (0: skip)")
    ap.add_argument("--only", nargs="+", choices=PARTS, help="measure these parts again, keep the others' figures")
    args = ap.parse_args()
    figures = {"model": MODEL}
    if args.only:
        figures = json.loads((Path(__file__).parent / "results" / "transcripts.json").read_text())["figures"]
    parts = {"wer": lambda: word_error_rates(args.clips), "sample": sample_stability,
             "conversations": lambda: conversations(args.conversations), "temperatures": temperatures,
             "long": lambda: one_hour(args.long_minutes)}
    for part in args.only or PARTS:
        if part != "long" or args.long_minutes:
            figures[part] = parts[part]()
            figures.setdefault("measured", {})[part] = time.strftime("%Y-%m-%d %H:%M UTC", time.gmtime())
            print(part, figures[part], flush=True)
    save("transcripts", figures)


if __name__ == "__main__":
    main()
