"""Ideas for issue 22's missed targets that did not make it, measured (benchmarks/adaptation.py's matrix: Whisper
tiny.en v3-recipe heads per fold, 4 classes, each corpus held out once, ASED/SAVEE/TESS never trained on; seed 0):

* **voices found in a folder**: a folder without speakers is split by voice (Resemblyzer's encoder on each
  recording, agglomerative clustering, cosine, average linkage) and each voice is adapted with the guarded rule
  (mood check; fallback: the folder's own guarded answer), against the true speakers in the same rule;
* **neighbourhoods in the emotion encoder's speaker space**: each recording's mean Whisper embedding projected by a
  speaker LDA fitted on the fold's training corpora (each corpus centred, so it learns voices, not corpora); each
  recording is adapted with the statistics of its ``k`` nearest recordings in the folder (cosine), guarded alike;
* **centroid refinement**: a group's adapted logits plus the cosine of each segment's hidden features to the
  group's soft class centroids (one step), on mixed, one-emotion and collection groups;
* **an unadapted head made speaker-invariant**: nuisance attribute projection (the top 3 or 10 directions of the
  training speakers' class-balanced means removed), and training on segments moved into another training
  speaker's statistics (one extra copy).

The mood check's coefficients here are the shipped ones (adaptation.json, fitted on all four licensed corpora: on
the licensed folds they saw the held-out corpus; three numbers, the same for every row compared). Fold heads come
from benchmarks/adaptation.py's cache (runs/adaptation-heads), trained if missing. Writes
benchmarks/results/adaptation-probes.json.

    python benchmarks/adaptation_probes.py
"""
import json
import statistics
import sys
from pathlib import Path

import numpy as np
import torch

sys.path.insert(0, str(Path(__file__).resolve().parent))
import adaptation as A  # noqa: E402
from common import save  # noqa: E402
from sklearn.cluster import AgglomerativeClustering  # noqa: E402
from sklearn.discriminant_analysis import LinearDiscriminantAnalysis  # noqa: E402
from sklearn.metrics import adjusted_rand_score  # noqa: E402

from segser.adaptation.mood import MoodCheck  # noqa: E402
from segser.adaptation.policy import MIN_SPEAKER_SEGMENTS  # noqa: E402
from segser.adaptation.statistics import Statistics, speaker_normalise, standardise  # noqa: E402
from segser.diarization.voice import WINDOW_FRAMES, gain_for, voice_encoder, voice_mel  # noqa: E402
from segser.encoders.backbones import create  # noqa: E402
from segser.encoders.engine import embed_signal  # noqa: E402
from segser.io.audio import load  # noqa: E402
from segser.results.timeline import SPEECH_GATE  # noqa: E402
from segser.segmentation.config import Segmentation  # noqa: E402
from segser.settings import cache_dir  # noqa: E402
from segser.training.adaptation_fit import emotion_directions  # noqa: E402
from segser.training.data import Embeddings, save_npz_atomic  # noqa: E402
from segser.training.evaluation import evaluate_logits  # noqa: E402
from segser.training.loop import logits_of  # noqa: E402

C = len(A.CLASSES)
THRESHOLDS = (0.2, 0.3, 0.4)
NEIGHBOURS = (20, 80)
SPEEDS = (0.9, 1.1)


def voice_of(path) -> np.ndarray:
    """A recording's voice: the mean of Resemblyzer embeddings of 1.6 s windows every 0.4 s, unit length."""
    x = load(path)
    mel = voice_mel(x, gain=gain_for(float(np.sqrt(np.mean(x.astype(np.float64) ** 2)))))
    if len(mel) < WINDOW_FRAMES:
        mel = np.pad(mel, ((0, WINDOW_FRAMES - len(mel)), (0, 0)))
    with torch.no_grad():
        E = voice_encoder()(torch.from_numpy(np.stack([mel[a:a + WINDOW_FRAMES]
                                                       for a in range(0, len(mel) - WINDOW_FRAMES + 1, 40)]))).numpy()
    e = E.mean(0)
    return e / np.linalg.norm(e)


def speed_perturbed(manifest, clips, factor) -> Embeddings:
    """Segment embeddings (the matrix's encoder) of ``clips`` resampled by ``factor``; cached beside the others."""
    import soxr

    encoder = create("whisper", size="tiny.en", layer="all", context=5)
    root = cache_dir() / "embeddings" / f"speed-{factor:g}-{encoder.name}"
    parts = []
    for i in clips:
        cached = root / f"{i}-{Path(manifest['path'].iloc[i]).stem}.npz"
        if not cached.exists():
            x = soxr.resample(load(manifest["path"].iloc[i]), int(round(16000 * factor)), 16000).astype(np.float32)
            X, spans, share = embed_signal(x, encoder, Segmentation(length=1.0, hop=1.0), name=str(i))
            save_npz_atomic(cached, X=X, spans=spans, speech=share)
        with np.load(cached) as z:
            parts.append(Embeddings(z["X"], np.full(len(z["X"]), i), z["spans"][:, 0], z["spans"][:, 1], z["speech"]))
    return Embeddings.concat(parts)


def hidden(model, Z):
    with torch.no_grad():
        return model.head.net[:3]((torch.from_numpy(Z.astype(np.float32)) - model.mean) / model.std).numpy()


def refined(head, Z, v, alpha=1.0, tau=0.1):
    """Calibrated logits plus alpha / tau times the cosine to the group's soft class centroids (hidden features)."""
    model, T = head
    L = logits_of(model, Z.astype(np.float32)) / T
    F = hidden(model, Z)
    F /= np.linalg.norm(F, axis=1, keepdims=True) + 1e-8
    P = np.exp(L[v] - L[v].max(1, keepdims=True))
    P /= P.sum(1, keepdims=True)
    centres = P.T @ F[v] / (P.sum(0)[:, None] + 1e-8)
    centres /= np.linalg.norm(centres, axis=1, keepdims=True) + 1e-8
    return L + alpha * (F @ centres.T) / tau


def clip_means(emb, voiced, n):
    """Each recording's mean embedding over its segments with speech (zeros where none)."""
    S, count = np.zeros((n, emb.X.shape[1])), np.zeros(n)
    np.add.at(S, emb.clip[voiced], emb.X[voiced])
    np.add.at(count, emb.clip[voiced], 1)
    return S / np.maximum(count, 1)[:, None], count > 0


def speaker_space(S, has, corpus_of, speaker_of, train_on):
    """Recordings' mean embeddings projected by a speaker LDA of the training corpora (each corpus centred)."""
    tr = np.isin(corpus_of, train_on) & has
    mu, sd = S[tr].mean(0), S[tr].std(0) + 1e-5
    Z = (S - mu) / sd
    centred = Z.copy()
    for c in train_on:
        m = (corpus_of == c) & has
        centred[m] -= centred[m].mean(0)
    return LinearDiscriminantAnalysis(solver="eigen", shrinkage="auto").fit(centred[tr], speaker_of[tr]).transform(Z)


def main():
    manifest, emb = A.load_all()
    voiced = emb.speech >= SPEECH_GATE
    y_clip = np.array([A.CLASSES.index(c) for c in manifest["label"]])
    corpus_of, speaker_of = manifest["corpus"].to_numpy(), manifest["speaker"].to_numpy()
    seg_corpus, seg_speaker = corpus_of[emb.clip], speaker_of[emb.clip]
    folds = [(c, [t for t in A.TRAINABLE if t != c]) for c in A.TRAINABLE] + [(c, list(A.TRAINABLE)) for c in A.EVAL_ONLY]
    coef = np.array(json.loads((Path(__file__).parent / "results" / "adaptation.json").read_text())
                    ["figures"]["mood_check"]["coef"])
    voices = np.stack([voice_of(p) for p in manifest["path"]])
    print("voices embedded", flush=True)
    S, has = clip_means(emb, voiced, len(manifest))
    trainable = np.flatnonzero(np.isin(corpus_of, A.TRAINABLE))
    faster = {f: speed_perturbed(manifest, trainable, f) for f in SPEEDS}
    print("speed-perturbed copies embedded", flush=True)
    invariant_heads = {}  # (name, training corpora) -> head: the evaluation-only folds share one training set

    views = {"raw": emb.X, "speaker": speaker_normalise(emb.X, seg_speaker, voiced),
             "corpus": speaker_normalise(emb.X, seg_corpus, voiced)}

    def subset(clips):
        r = np.isin(emb.clip, clips)
        return r, Embeddings(emb.X[r], emb.clip[r], emb.start[r], emb.end[r], emb.speech[r])

    def ua(lg, sub):
        return evaluate_logits(lg, sub, manifest, A.CLASSES, "mean_logits", speech_gate=SPEECH_GATE)[0]["UA"]

    results, clusters = {}, {}
    for held, train_on in folds:
        heads = A.fold_heads(train_on, "4class", emb, y_clip, seg_corpus, seg_speaker, voiced, views)
        raw = heads["raw"][0]
        ref = (raw.mean.numpy(), raw.std.numpy())
        train = np.isin(seg_corpus, train_on) & voiced
        check = MoodCheck(emotion_directions((emb.X[train] - ref[0]) / ref[1], y_clip[emb.clip[train]],
                                             seg_speaker[train], C), coef)
        test = np.flatnonzero(corpus_of == held)
        label = manifest["label"].to_numpy()[test]
        space = speaker_space(S, has, corpus_of, speaker_of, train_on)
        out = results[held] = {}
        # voices found in a folder
        folders = {"collection": [test], "one-emotion collection": [test[label == c] for c in A.CLASSES if np.any(label == c)],
                   "one-emotion speakers, no speakers given": A.one_emotion_subsets(manifest, test, 3)}
        for proto, sets in folders.items():
            scores: dict[str, list] = {}
            for clips in sets:
                r, sub = subset(clips)
                X, v = sub.X, sub.speech >= SPEECH_GATE
                none_l = A.calibrated(heads["raw"], X)

                def weight(m):
                    if np.sum(m & v) < MIN_SPEAKER_SEGMENTS:
                        return 1.0
                    share = np.bincount(none_l[m & v].argmax(1), minlength=C).max() / np.sum(m & v)
                    return MoodCheck.weight(check.probability(check.spread((X[m & v] - ref[0]) / ref[1]), share))
                w = weight(np.ones(len(X), bool))
                folder = (1 - w) * A.calibrated(heads["corpus"], standardise(X, Statistics.of(X[v]))) + w * none_l
                scores.setdefault("the folder, guarded (shipped)", []).append(ua(folder, sub))
                ids = np.unique(sub.clip)
                for th in (*THRESHOLDS, "true speakers"):
                    if th == "true speakers":
                        groups = seg_speaker[r]
                    else:
                        found = AgglomerativeClustering(n_clusters=None, metric="cosine", linkage="average",
                                                        distance_threshold=th).fit_predict(voices[ids])
                        groups = found[np.searchsorted(ids, sub.clip)]
                        if proto == "collection":
                            clusters.setdefault(held, {})[str(th)] = {
                                "voices": int(len(np.unique(found))), "speakers": int(len(np.unique(speaker_of[ids]))),
                                "ARI": float(adjusted_rand_score(speaker_of[ids], found))}
                    lg = folder.copy()
                    for g in np.unique(groups):
                        m = groups == g
                        if np.sum(m & v) >= MIN_SPEAKER_SEGMENTS:
                            wg = weight(m)
                            own = A.calibrated(heads["speaker"], standardise(X[m], Statistics.of(X[m & v])))
                            lg[m] = (1 - wg) * own + wg * folder[m]
                    name = "true speakers" if th == "true speakers" else f"voices found at {th:g}"
                    scores.setdefault(f"{name}, each guarded, else the folder's answer", []).append(ua(lg, sub))
                V = space[ids] - space[ids].mean(0)
                V /= np.linalg.norm(V, axis=1, keepdims=True) + 1e-9
                nearest = np.argsort(-(V @ V.T), axis=1)
                pos = np.searchsorted(ids, sub.clip)
                for k in NEIGHBOURS:
                    lg = folder.copy()
                    for i in range(len(ids)):
                        m, mine = np.isin(pos, nearest[i, :k]), pos == i
                        if np.sum(m & v) >= MIN_SPEAKER_SEGMENTS:
                            wg = weight(m)
                            own = A.calibrated(heads["speaker"], standardise(X[mine], Statistics.of(X[m & v])))
                            lg[mine] = (1 - wg) * own + wg * folder[mine]
                    scores.setdefault(f"each recording with its {k} nearest in the encoder's speaker space, guarded, "
                                      "else the folder's answer", []).append(ua(lg, sub))
            out[proto] = {k: statistics.mean(x) for k, x in scores.items()}
        # centroid refinement of speaker z (speaker head) and collection z (corpus head)
        groupings = {"mixed speakers": [("speaker", test)], "collection": [("collection", test)],
                     "one-emotion speakers": [("speaker", s) for s in A.one_emotion_subsets(manifest, test, 3)]}
        for proto, runs in groupings.items():
            scores = {}
            for grouping, clips in runs:
                r, sub = subset(clips)
                X, v = sub.X, sub.speech >= SPEECH_GATE
                groups = seg_speaker[r] if grouping == "speaker" else np.full(len(X), "all")
                head = heads["speaker" if grouping == "speaker" else "corpus"]
                plain, better = np.empty((len(X), C)), np.empty((len(X), C))
                for g in np.unique(groups):
                    m = groups == g
                    vv = v[m] if np.sum(m & v) >= 2 else np.ones(m.sum(), bool)
                    Z = standardise(X[m], Statistics.of(X[m][vv]))
                    plain[m], better[m] = A.calibrated(head, Z), refined(head, Z, vv)
                scores.setdefault("own z (unguarded)", []).append(ua(plain, sub))
                scores.setdefault("own z + centroid refinement", []).append(ua(better, sub))
            out.setdefault("refinement", {})[proto] = {k: statistics.mean(x) for k, x in scores.items()}
        # speaker-invariant unadapted heads
        X, y, spk, cor = emb.X[train], y_clip[emb.clip[train]], seg_speaker[train], seg_corpus[train]
        _, sub = subset(test)
        inv = {"none (raw head)": ua(logits_of(raw, sub.X.astype(np.float32)), sub)}
        mu, sd = X.mean(0), X.std(0) + 1e-5
        names = np.unique(spk)
        means = np.stack([np.mean([X[(spk == s) & (y == c)].mean(0) for c in range(C) if np.any((spk == s) & (y == c))], 0)
                          for s in names])
        _, _, Vt = np.linalg.svd((means - mu) / sd - ((means - mu) / sd).mean(0), full_matrices=False)
        for k in (3, 10):
            def project(Z, B=Vt[:k]):
                Z = (Z - mu) / sd
                return (Z - (Z @ B.T) @ B).astype(np.float32)
            key = (f"nap{k}", tuple(train_on))
            if key not in invariant_heads:
                invariant_heads[key] = A.train_head(project(X), y, cor, spk)[0]
            inv[f"speaker subspace removed (NAP, {k} directions)"] = ua(logits_of(invariant_heads[key], project(sub.X)), sub)
        stats = {s: (means[i], X[spk == s].std(0) + 1e-5) for i, s in enumerate(names)}
        other = dict(zip(names, np.random.default_rng(0).choice(names, size=len(names))))
        moved = np.empty_like(X)
        for s in names:
            m = spk == s
            moved[m] = (X[m] - stats[s][0]) / stats[s][1] * stats[other[s]][1] + stats[other[s]][0]
        key = ("moved", tuple(train_on))
        if key not in invariant_heads:
            invariant_heads[key] = A.train_head(np.concatenate([X, moved]).astype(np.float32), np.concatenate([y, y]),
                                                np.concatenate([cor, cor]), np.concatenate([spk, spk]))[0]
        inv["trained with a copy moved into another speaker's statistics"] = ua(
            logits_of(invariant_heads[key], sub.X.astype(np.float32)), sub)
        key = ("speed", tuple(train_on))
        if key not in invariant_heads:
            rows = [(e, np.isin(corpus_of[e.clip], train_on) & (e.speech >= SPEECH_GATE)) for e in faster.values()]
            invariant_heads[key] = A.train_head(
                np.concatenate([X] + [e.X[r] for e, r in rows]).astype(np.float32),
                np.concatenate([y] + [y_clip[e.clip[r]] for e, r in rows]),
                np.concatenate([cor] + [corpus_of[e.clip[r]] for e, r in rows]),
                np.concatenate([spk] + [speaker_of[e.clip[r]] for e, r in rows]))[0]
        inv["trained with speed-perturbed copies (0.9, 1.1)"] = ua(logits_of(invariant_heads[key], sub.X.astype(np.float32)), sub)
        out["unadapted"] = inv
        print(held, json.dumps(out)[:400], flush=True)
    names = [h for h, _ in folds]
    table = {}
    for part in results[names[0]]:
        rows = results[names[0]][part]
        if isinstance(next(iter(rows.values())), dict):  # proto -> method -> UA
            table[part] = {p: {m: {"mean": statistics.mean(results[h][part][p][m] for h in names),
                                   "per_corpus": {h: results[h][part][p][m] for h in names}} for m in rows[p]} for p in rows}
        else:
            table[part] = {m: {"mean": statistics.mean(results[h][part][m] for h in names),
                               "per_corpus": {h: results[h][part][m] for h in names}} for m in rows}
    for part, rows in table.items():
        print(part, json.dumps(rows)[:600])
    save("adaptation-probes", {"label_set": "4class", "corpora": names, "evaluation_only": list(A.EVAL_ONLY),
                               "speech_gate": SPEECH_GATE, "mood_check_coef": coef.tolist(), "thresholds": list(THRESHOLDS),
                               "results": table, "clusters": clusters})


if __name__ == "__main__":
    main()
