"""Where does adaptation break, and which rule is safe? (issue 22)

The cross-corpus matrix of the v3 recipe (Whisper tiny.en, all layers, 5 s
windows, 1 s segments, N = 200 head, corpus balance, calibration; 4 classes;
each corpus held out once, ASED/SAVEE/TESS never trained on), with three
heads per fold: trained on raw embeddings, on per-speaker standardised
embeddings and on per-corpus standardised embeddings. Each adaptation method
is scored on every held-out corpus under three protocols:

* ``mixed``: each test speaker's statistics from all of their clips (a mix of emotions);
* ``one-emotion``: each test speaker keeps only the clips of one emotion (emotions handed to
  speakers in turn, so the classes stay balanced; ``--draws`` draws), statistics from those;
* ``collection``: no speakers known; statistics over the whole held-out corpus.

Statistics always come from the segments with speech (the timeline's gate).

The mood check (``speakers.MoodCheck``: does a group hold one mood, from its spread along the emotion
directions and the unadapted model's commonest-emotion share) is fitted per fold on the groups of the
*other* licensed corpora (their mixed and one-emotion groups, under their own folds' heads), never on the
held-out corpus; fitted on all four licensed corpora it is what the built-in models ship
(``recipes/default/mood_check.py``). Writes benchmarks/results/adaptation.json.

    python benchmarks/adaptation.py [--draws 3]
"""
import argparse
import statistics
import sys
from pathlib import Path
from types import SimpleNamespace

import numpy as np
import torch

sys.path.insert(0, str(Path(__file__).resolve().parent))
from common import save  # noqa: E402
from sklearn.metrics import roc_auc_score  # noqa: E402

from segser.adaptation.mood import MOOD_CHECK_TOP, MoodCheck, Sample
from segser.adaptation.mood import share_weight as mood_weight
from segser.adaptation.policy import MIN_SPEAKER_SEGMENTS, adapt_rows, plan_for
from segser.adaptation.statistics import Statistics, speaker_normalise, standardise
from segser.encoders.backbones import create  # noqa: E402
from segser.results.timeline import SPEECH_GATE  # noqa: E402
from segser.segmentation.config import Segmentation  # noqa: E402
from segser.settings import data_dir  # noqa: E402
from segser.training import corpora  # noqa: E402
from segser.training import labels as labelsets  # noqa: E402
from segser.training.adaptation_fit import emotion_directions, fit_mood_coefficients, heads_from_torch
from segser.training.config import TrainConfig  # noqa: E402
from segser.training.data import Embeddings, embed_manifest  # noqa: E402
from segser.training.evaluation import evaluate_logits  # noqa: E402
from segser.training.loop import fit_calibrated_head, logits_of  # noqa: E402

TRAINABLE = ("emodb", "ravdess", "nemo", "emovo")
EVAL_ONLY = ("ased", "savee", "tess")
LABEL_SETS = ("4class", "shared6")
CLASSES = list(labelsets.LABEL_SETS["4class"][0])  # --labels sets it
RECIPE = dict(backbone="whisper", backbone_options={"size": "tiny.en", "layer": "all", "context": 5}, head="segment",
              head_options={"hidden": 200}, lr=0.001, weight_decay=0.0001, batch_size=32, max_epochs=200, patience=15,
              class_weights=True, corpus_balance=True, calibrate=True)
MOOD_SHARES = (0.5, 0.6, 0.7)  # 0.6 was fixed before the first run (speakers.ONE_MOOD_SHARE); 0.5 and 0.7: sensitivity
# what segser's --adapt modes are, in this table's terms (the built-in default-4class is a raw head)
CHOSEN = {"none": "none (raw head)",
          "collection (default-4class: its adaptation heads)": "collection z (corpus-normalised head)",
          "collection (a model without adaptation heads)": "collection moment matching (raw head)",
          "speaker (default-4class)": "speaker z (speaker-normalised head)",
          "speaker (a model without adaptation heads)": "moment matching to training (raw head)",
          "auto with speakers given or found (default-4class: adaptation heads and a mood check)":
              "guarded speaker z by the mood check, else collection z (speaker + corpus heads)",
          "auto with speakers given or found (a mood check, no adaptation heads)":
              "guarded by the mood check, else collection (raw head)",
          "auto with speakers given or found (no mood check)":
              "guarded speaker moment matching, blended over 0.5-0.7, else collection (raw head)",
          "auto for a group with nothing to compare with (one recording, several without speakers; default-4class)":
              "guarded own z by the mood check, else none (speaker or corpus + raw heads)",
          "the same, a mood check but no adaptation heads (a live stream)": "guarded by the mood check, else none (raw head)",
          "the same, a model without a mood check (several recordings without speakers)":
              "guarded speaker moment matching, blended over 0.5-0.7, else none (raw head)"}
RUNS = Path(__file__).resolve().parents[1] / "runs"  # trained heads, kept between runs: RUNS / heads_dir(label_set)
SHRINK_K = (50, 200)


def heads_dir(label_set: str) -> Path:
    return RUNS / ("adaptation-heads" if label_set == "4class" else f"adaptation-heads-{label_set}")


def load_all(label_set: str = "4class", names=TRAINABLE + EVAL_ONLY, encoder=None, segmentation=None):
    """The corpora's manifest (speakers as corpus:speaker, clips numbered across corpora) and segment embeddings,
    by the v3 recipe's encoder unless given (cached)."""
    import pandas as pd

    bb = encoder or create("whisper", size="tiny.en", layer="all", context=5)
    seg = segmentation or Segmentation(length=1.0, hop=1.0)
    frames, embs = [], []
    offset = 0
    for name in names:
        m, _ = labelsets.apply(corpora.load(name, data_dir() / name), label_set)
        m = m.reset_index(drop=True)
        e = embed_manifest(m, bb, seg, progress=False)
        frames.append(m)
        embs.append(Embeddings(e.X, e.clip + offset, e.start, e.end, e.speech))
        offset += len(m)
        print(f"{name}: {len(m)} clips, {len(e.X)} segments", flush=True)
    manifest = pd.concat(frames, ignore_index=True)
    manifest["speaker"] = manifest["corpus"] + ":" + manifest["speaker"].astype(str)
    return manifest, Embeddings.concat(embs)


def train_head(X, y, corpus, speakers, seed=0):
    """The v3 recipe's head on (X, y); validation: one training speaker in nine."""
    return fit_calibrated_head(X, y, corpus, speakers, len(CLASSES), TrainConfig.from_dict({**RECIPE, "seed": seed}))


def fold_heads(train_on, label_set, emb, y_clip, seg_corpus, seg_speaker, voiced, views) -> dict:
    """A fold's heads, one per view of the embeddings ({"raw": X, "speaker": per-speaker z, "corpus": per-corpus
    z}), trained on the voiced segments of the ``train_on`` corpora; kept under runs/ between runs."""
    cache = heads_dir(label_set) / f"{'+'.join(train_on)}.pt"
    if cache.exists():
        return torch.load(cache, weights_only=False)
    rows = np.isin(seg_corpus, train_on) & voiced
    y = y_clip[emb.clip[rows]]
    heads = {name: train_head(X[rows], y, seg_corpus[rows], seg_speaker[rows]) for name, X in views.items()}
    cache.parent.mkdir(parents=True, exist_ok=True)
    torch.save(heads, cache)
    return heads


def fold_model(heads, check):
    """A fold's heads as the model the shipped adaptation code takes: the raw head (calibrated), the speaker- and
    corpus-normalised heads as its adaptation heads, the fold's mood check and the raw head's reference."""
    raw = heads["raw"][0]
    return SimpleNamespace(name="fold", classes=CLASSES, temperature=1.0, speaker_norm=False, mood=check,
                           reference=(raw.mean.numpy(), raw.std.numpy()), logits=lambda X: calibrated(heads["raw"], X),
                           adaptation=heads_from_torch({"speaker": heads["speaker"], "collection": heads["corpus"]}))


def calibrated(head, Z):
    """A (model, temperature) head's logits divided by its temperature: heads blended on one scale."""
    model, temperature = head
    return logits_of(model, Z.astype(np.float32)) / temperature


def one_emotion_subsets(manifest, test_clips, draws, classes=None):
    """Clip subsets where each speaker keeps the clips of one emotion, emotions handed out in turn."""
    classes = classes or CLASSES
    out = []
    m = manifest.loc[test_clips]
    speakers = sorted(m["speaker"].unique())
    for d in range(draws):
        rng = np.random.default_rng(100 + d)
        order = list(rng.permutation(speakers))
        start = int(rng.integers(len(classes)))
        keep = []
        for i, s in enumerate(order):
            mine = m[m["speaker"] == s]
            emotions = [c for c in classes if (mine["label"] == c).any()]
            wanted = classes[(start + i) % len(classes)]
            emotion = wanted if wanted in emotions else emotions[i % len(emotions)]
            keep += list(mine.index[mine["label"] == emotion])
        out.append(np.array(sorted(keep)))
    return out


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--draws", type=int, default=3, help="draws of the one-emotion protocol")
    ap.add_argument("--labels", choices=LABEL_SETS, default="4class",
                    help="label set (shared6: the six classes of the built-in default)")
    args = ap.parse_args()
    global CLASSES
    CLASSES = list(labelsets.LABEL_SETS[args.labels][0])
    manifest, emb = load_all(args.labels)
    voiced = emb.speech >= SPEECH_GATE
    y_clip = np.array([CLASSES.index(c) for c in manifest["label"]])
    corpus_of, speaker_of = manifest["corpus"].to_numpy(), manifest["speaker"].to_numpy()
    seg_corpus, seg_speaker = corpus_of[emb.clip], speaker_of[emb.clip]
    X_spk = speaker_normalise(emb.X, seg_speaker, voiced)
    X_cor = speaker_normalise(emb.X, seg_corpus, voiced)  # per corpus
    folds = [(c, [t for t in TRAINABLE if t != c]) for c in TRAINABLE] + [(c, list(TRAINABLE)) for c in EVAL_ONLY]
    results = {}
    trained = {}

    def heads_for(train_on):
        key = "+".join(train_on)
        if key not in trained:
            trained[key] = fold_heads(train_on, args.labels, emb, y_clip, seg_corpus, seg_speaker, voiced,
                                      {"raw": emb.X, "speaker": X_spk, "corpus": X_cor})
            print(f"trained on {key}", flush=True)
        return trained[key]

    def protocols_of(held):
        test_clips = np.flatnonzero(corpus_of == held)
        label = manifest["label"].to_numpy()[test_clips]
        return {"mixed": [("speaker", test_clips)], "collection": [("collection", test_clips)],
                "one-emotion": [("speaker", s) for s in one_emotion_subsets(manifest, test_clips, args.draws)],
                # a folder of recordings all in one mood (every speaker's clips of one emotion): mean recall
                "one-emotion collection": [("collection", test_clips[label == c]) for c in CLASSES if np.any(label == c)]}

    # pass 1: each fold's groups (mixed and one-emotion), as the mood check sees them
    directions, checks = {}, []
    for held, train_on in folds:
        raw_model = heads_for(train_on)["raw"][0]
        ref = (raw_model.mean.numpy(), raw_model.std.numpy())
        rows = np.isin(seg_corpus, train_on) & voiced
        directions[held] = emotion_directions((emb.X[rows] - ref[0]) / ref[1], y_clip[emb.clip[rows]],
                                              seg_speaker[rows], len(CLASSES))
        probe = MoodCheck(directions[held], np.zeros(3))
        for proto, runs in protocols_of(held).items():
            for _, clips in runs if proto in ("mixed", "one-emotion") else []:
                for g in np.unique(speaker_of[clips]):
                    m = np.isin(emb.clip, clips) & (seg_speaker == g) & voiced
                    if m.sum() >= MIN_SPEAKER_SEGMENTS:  # what the shipped guard reads of a group alone
                        sample = Sample(len(CLASSES), probe, ref)
                        sample.add(emb.X[m])
                        sample.vote(logits_of(raw_model, emb.X[m]))
                        checks.append((held, proto == "one-emotion", *sample.features()))

    def fit_check(corpora_):
        """The mood check's logistic regression on these corpora's groups, both kinds weighing the same."""
        rows = [c for c in checks if c[0] in corpora_]
        return fit_mood_coefficients(*(np.array([c[i] for c in rows]) for i in (1, 2, 3)))

    for held, train_on in folds:
        heads = heads_for(train_on)
        raw_ref = (heads["raw"][0].mean.numpy(), heads["raw"][0].std.numpy())
        check = MoodCheck(directions[held], fit_check([c for c in TRAINABLE if c != held]))
        protocols = protocols_of(held)
        results[held] = {}
        for proto, runs in protocols.items():
            scores: dict[str, list] = {}
            for grouping, clips in runs:
                rows = np.isin(emb.clip, clips)
                sub = Embeddings(emb.X[rows], emb.clip[rows], emb.start[rows], emb.end[rows], emb.speech[rows])
                X, v = sub.X, sub.speech >= SPEECH_GATE
                groups = seg_speaker[rows] if grouping == "speaker" else np.full(len(X), "all")
                coll = Statistics.of(X[v])

                def ua(head, Z):
                    model, _ = heads[head]
                    metrics, _ = evaluate_logits(logits_of(model, Z.astype(np.float32)), sub, manifest, CLASSES,
                                                 "mean_logits", speech_gate=SPEECH_GATE)
                    return metrics["UA"]

                def per_group(fn):
                    Z = np.empty_like(X)
                    for g in np.unique(groups):
                        m = groups == g
                        Z[m] = fn(X[m], Statistics.of(X[m & v]) if np.any(m & v) else coll, m)
                    return Z

                def share_of_one_mood(model, Z):
                    g = logits_of(model, Z.astype(np.float32))
                    return float(np.bincount(g.argmax(1), minlength=len(CLASSES)).max() / max(len(g), 1))

                raw_model, cor_model, spk_model = heads["raw"][0], heads["corpus"][0], heads["speaker"][0]
                coll_mm = standardise(X, coll, raw_ref)
                methods = {
                    "none (raw head)": ("raw", X),
                    "collection moment matching (raw head)": ("raw", coll_mm),
                    "speaker z (speaker-normalised head)": ("speaker", per_group(lambda x, s, m: standardise(x, s))),
                    "collection z (corpus-normalised head)": ("corpus", standardise(X, coll)),
                    "collection z (speaker-normalised head)": ("speaker", standardise(X, coll)),
                    "moment matching to training (raw head)": ("raw", per_group(lambda x, s, m: standardise(x, s, raw_ref))),
                    "collection mean, speaker scale (speaker-normalised head)":
                        ("speaker", per_group(lambda x, s, m: standardise(x, Statistics(coll.mean, s.std, s.segments)))),
                }
                for k in SHRINK_K:
                    methods[f"speaker shrunk to collection, k={k} (speaker-normalised head)"] = (
                        "speaker", per_group(lambda x, s, m, k=k: standardise(x, s.shrunk(coll, k))))
                # the guard: a group whose voiced segments the collection-adapted model gives mostly one emotion is
                # taken to hold one mood and keeps the collection's statistics (or, alone, no adaptation)
                for tau in MOOD_SHARES:
                    def guard_mm(x, s, m, tau=tau):
                        share = share_of_one_mood(raw_model, standardise(x[v[m]] if np.any(v[m]) else x, coll, raw_ref))
                        return standardise(x, coll if share >= tau else s, raw_ref)

                    def guard_alone(x, s, m, tau=tau):  # no collection: the group's own statistics or none
                        share = share_of_one_mood(raw_model, x[v[m]] if np.any(v[m]) else x)
                        return x if share >= tau else standardise(x, s, raw_ref)
                    methods[f"guarded speaker moment matching, one mood at >= {tau:g}, else collection (raw head)"] = (
                        "raw", per_group(guard_mm))
                    methods[f"guarded speaker moment matching, one mood at >= {tau:g}, else none (raw head)"] = (
                        "raw", per_group(guard_alone))
                    zs, zc = per_group(lambda x, s, m: standardise(x, s)), standardise(X, coll)
                    flags = np.zeros(len(X), bool)
                    for g in np.unique(groups):
                        m = groups == g
                        flags[m] = share_of_one_mood(cor_model, zc[m & v] if np.any(m & v) else zc[m]) >= tau
                    lg = np.where(flags[:, None], logits_of(cor_model, zc.astype(np.float32)),
                                  logits_of(spk_model, zs.astype(np.float32)))
                    metrics, _ = evaluate_logits(lg, sub, manifest, CLASSES, "mean_logits", speech_gate=SPEECH_GATE)
                    scores.setdefault(f"guarded speaker z, one mood at >= {tau:g}, else collection z (speaker + corpus "
                                      "heads)", []).append(metrics["UA"])
                # the shipped rule: the own-statistics and fallback logits blended by how far the group holds one mood
                # (speakers.mood_weight: 0 below a share of 0.5, 1 above 0.7), so no group flips on a segment or two
                own_l = logits_of(raw_model, per_group(lambda x, s, m: standardise(x, s, raw_ref)).astype(np.float32))
                for fallback, fall_l, prior in (("collection", logits_of(raw_model, coll_mm.astype(np.float32)), coll_mm),
                                                ("none", logits_of(raw_model, X.astype(np.float32)), X)):
                    w = np.zeros((len(X), 1))
                    for g in np.unique(groups):
                        m = groups == g
                        w[m] = mood_weight(share_of_one_mood(raw_model, prior[m & v] if np.any(m & v) else prior[m]))
                    metrics, _ = evaluate_logits((1 - w) * own_l + w * fall_l, sub, manifest, CLASSES, "mean_logits",
                                                 speech_gate=SPEECH_GATE)
                    scores.setdefault(f"guarded speaker moment matching, blended over 0.5-0.7, else {fallback} (raw head)",
                                      []).append(metrics["UA"])
                # the mood check in place of the share alone: p(one mood) -> the fallback's weight (MoodCheck.weight);
                # with a collection, also both tests together: the lower of the two weights (adapted when either
                # hears a mix) and their mean
                for fallback, fall_l in (("none", logits_of(raw_model, X.astype(np.float32))),
                                         ("collection", logits_of(raw_model, coll_mm.astype(np.float32)))):
                    w, w_share = np.zeros((len(X), 1)), np.zeros((len(X), 1))
                    for g in np.unique(groups):
                        m = groups == g
                        if np.sum(m & v) < MIN_SPEAKER_SEGMENTS:
                            w[m] = w_share[m] = 1.0
                            continue
                        share = np.bincount(fall_l[m & v].argmax(1), minlength=len(CLASSES)).max() / np.sum(m & v)
                        spread = check.spread((X[m & v] - raw_ref[0]) / raw_ref[1])
                        w[m] = MoodCheck.weight(check.probability(spread, share))
                        w_share[m] = mood_weight(share)
                    combined = {"": w}
                    # the same weights over three heads (the built-in default-4class's adaptation heads,
                    # speakers.AdaptationHeads): a group's own z into the speaker-normalised head, the collection's z
                    # into the corpus-normalised one, no adaptation into the raw head; each head's logits calibrated
                    # (divided by its temperature) before they are blended
                    zs_l = calibrated(heads["speaker"], per_group(lambda x, s, m: standardise(x, s)))
                    if fallback == "collection":
                        combined |= {" and the share, the lower weight": np.minimum(w, w_share),
                                     " and the share, the mean weight": (w + w_share) / 2}
                        zc_l, ww = calibrated(heads["corpus"], standardise(X, coll)), (w + w_share) / 2
                        two = "guarded speaker z by the mood check and the share, the mean weight, else collection z"
                        metrics, _ = evaluate_logits((1 - w) * zs_l + w * zc_l, sub, manifest, CLASSES, "mean_logits",
                                                     speech_gate=SPEECH_GATE)
                        scores.setdefault("guarded speaker z by the mood check, else collection z (speaker + corpus heads)",
                                          []).append(metrics["UA"])
                    else:  # a group alone; a folder's own statistics are a collection's: the corpus-normalised head
                        zc_l, ww = calibrated(heads["raw"], X), w
                        if grouping == "collection":
                            zs_l = calibrated(heads["corpus"], standardise(X, coll))
                        two = "guarded own z by the mood check, else none (speaker or corpus + raw heads)"
                    metrics, _ = evaluate_logits((1 - ww) * zs_l + ww * zc_l, sub, manifest, CLASSES, "mean_logits",
                                                 speech_gate=SPEECH_GATE)
                    scores.setdefault(two + (" (speaker + corpus heads)" if fallback == "collection" else ""),
                                      []).append(metrics["UA"])
                    for how, ww in combined.items():
                        metrics, _ = evaluate_logits((1 - ww) * own_l + ww * fall_l, sub, manifest, CLASSES, "mean_logits",
                                                     speech_gate=SPEECH_GATE)
                        scores.setdefault(f"guarded by the mood check{how}, else {fallback} (raw head)", []).append(
                            metrics["UA"])
                for name, (head, Z) in methods.items():
                    scores.setdefault(name, []).append(ua(head, Z))
                # the shipped rule itself (segser.adaptation.policy), on a model made of this fold's heads: speakers
                # given, or a folder without speakers (one group with nothing to compare with)
                shipped = fold_model(heads, check)
                plan = plan_for(shipped, "auto", inputs=len(clips), speakers={} if grouping == "speaker" else None)
                lg, _, _ = adapt_rows(shipped, plan, X, voiced=v, groups=np.asarray(groups, dtype=object),
                                      seconds=(sub.end - sub.start) * sub.speech)
                metrics, _ = evaluate_logits(lg, sub, manifest, CLASSES, "mean_logits", speech_gate=SPEECH_GATE)
                scores.setdefault("the shipped rule (segser.adaptation.policy): auto with the fold's heads and mood check",
                                  []).append(metrics["UA"])
                # collection statistics into two heads at once (an ensemble): the corpus- and speaker-normalised heads
                # on the collection's z, and the corpus-normalised head beside the raw head moment-matched
                zc = standardise(X, coll)
                for name, lg in (("collection z, corpus- and speaker-normalised heads averaged",
                                  calibrated(heads["corpus"], zc) + calibrated(heads["speaker"], zc)),
                                 ("collection z and moment matching, corpus-normalised and raw heads averaged",
                                  calibrated(heads["corpus"], zc) + calibrated(heads["raw"], coll_mm))):
                    metrics, _ = evaluate_logits(lg, sub, manifest, CLASSES, "mean_logits", speech_gate=SPEECH_GATE)
                    scores.setdefault(name, []).append(metrics["UA"])
                # logits averaged: speaker-z and collection-z views
                lg = (logits_of(heads["speaker"][0], per_group(lambda x, s, m: standardise(x, s)).astype(np.float32))
                      + logits_of(heads["speaker"][0], standardise(X, coll).astype(np.float32))) / 2
                metrics, _ = evaluate_logits(lg, sub, manifest, CLASSES, "mean_logits", speech_gate=SPEECH_GATE)
                scores.setdefault("mean of speaker-z and collection-z logits (speaker-normalised head)", []).append(metrics["UA"])
            results[held][proto] = {k: statistics.mean(v) for k, v in scores.items()}
        print(held, {p: round(results[held][p]["none (raw head)"], 3) for p in results[held]}, flush=True)
    names = list(results)
    methods = list(results[names[0]]["mixed"])
    table = {}
    for meth in methods:
        table[meth] = {p: {"per_corpus": {c: results[c][p][meth] for c in names},
                           "mean": statistics.mean(results[c][p][meth] for c in names),
                           "mean_licensed": statistics.mean(results[c][p][meth] for c in TRAINABLE),
                           "mean_eval_only": statistics.mean(results[c][p][meth] for c in EVAL_ONLY)}
                       for p in ("mixed", "one-emotion", "collection", "one-emotion collection")}
        print(f"{meth:<80} " + " ".join(f"{p}: {table[meth][p]['mean']:.3f}" for p in table[meth]), flush=True)
    # how well each fold's mood check (fitted without the held-out corpus) tells one mood from a mix, against the share
    auc = {}
    for held, _ in folds:
        mine = [c for c in checks if c[0] == held]
        coef = fit_check([c for c in TRAINABLE if c != held])
        one = np.array([c[1] for c in mine])
        p = [MoodCheck(directions[held], coef).probability(c[2], c[3]) for c in mine]
        auc[held] = {"mood_check": float(roc_auc_score(one, p)), "share": float(roc_auc_score(one, [c[3] for c in mine])),
                     "groups": len(mine)}
    print("AUC one mood vs mix:", {h: (round(a["mood_check"], 2), round(a["share"], 2)) for h, a in auc.items()})
    final = fit_check(TRAINABLE)
    print("mood check on all licensed corpora: coef", final.round(4).tolist())
    save("adaptation" if args.labels == "4class" else f"adaptation-{args.labels}",
         {"label_set": args.labels, "corpora": names, "evaluation_only": list(EVAL_ONLY), "draws": args.draws,
          "speech_gate": SPEECH_GATE, "recipe": RECIPE, "chosen": CHOSEN, "methods": table,
          "mood_check": {"coef": final.tolist(), "features": ["bias", "log spread fraction", "dominant share"],
                         "fitted_on": list(TRAINABLE), "groups": len(checks), "ramp_top": MOOD_CHECK_TOP,
                         "auc_per_held_out_corpus": auc}})


if __name__ == "__main__":
    main()
