"""Decisions agree with their probabilities on real recordings: every clip of a sample of each shared corpus
under the four rules and the built-in models, conversations adapted per speaker, the JSON, the service and the
Python API; the Python API keeps the speaker column."""
import json

import numpy as np
import pytest

from segser import Pipeline, predict
from segser.cli import main
from segser.results.aggregate import RULES
from segser.results.types import NO_SPEECH, UNCERTAIN

pytestmark = pytest.mark.integration
CORPORA = {"emodb": "*.flac", "ravdess": "Actor_0[12]/*.flac", "nemo": "*.ogg", "ased": "*/*.ogg", "emovo": "*/*.ogg",
           "savee": "*.ogg", "tess": "*.ogg"}


def check(decision: dict, classes) -> None:
    probs = {c: decision[f"p_{c}"] for c in classes}
    if decision["label"] in (NO_SPEECH, UNCERTAIN, "undecided (tie)"):
        if decision["label"] == UNCERTAIN:
            assert decision["score"] == max(probs.values())
        return
    assert decision["score"] == probs[decision["label"]] == max(probs.values()), decision


@pytest.mark.parametrize("model", ["default", "default-4class"])
def test_every_rule_on_every_corpus_decides_by_its_own_probabilities(shared_data, model):
    rng = np.random.default_rng(0)
    files = []
    for corpus, pattern in CORPORA.items():
        found = sorted((shared_data / corpus).glob(pattern))
        files += [str(found[i]) for i in rng.choice(len(found), 6, replace=False)]
    pipeline = Pipeline(model, adapt="none")
    for rule in RULES:
        _, decisions, errors = predict(files, pipeline.model, rule=rule, adapt="none")
        assert not errors and len(decisions) == len(files)
        for _, d in decisions.reset_index().iterrows():
            check(d, pipeline.classes)
    # the default adaptation of a folder, and of each speaker found in a conversation
    _, decisions, _ = predict(files[:12], pipeline.model)
    for _, d in decisions.reset_index().iterrows():
        check(d, pipeline.classes)


def test_a_conversation_keeps_its_speakers_and_agrees_everywhere(shared_data, tmp_path):
    wav = shared_data / "conversation" / "sample.wav"
    timeline, decisions, errors = predict([wav], speakers="auto")
    assert not errors and "speaker" in timeline.columns and {"S1", "S2"} <= set(timeline["speaker"])
    d = decisions.iloc[0]
    classes = [c[2:] for c in decisions.columns if c.startswith("p_")]
    check(d, classes)
    assert main(["predict", str(wav), "--speakers", "auto", "--quiet", "--out", str(tmp_path / "r.json")]) == 0
    doc = json.loads((tmp_path / "r.json").read_text())["files"][0]
    check(doc["decision"], classes)
    assert doc["decision"]["label"] == d["label"] and doc["decision"]["score"] == pytest.approx(d["score"])
    for summary in doc["speakers"].values():
        assert summary["decision"]["label"] in classes + [UNCERTAIN]
