import numpy as np
import pytest

from segser.results.aggregate import Tally, decide
from segser.training.metrics import classification_metrics, segment_clip_metrics


def onehot_logits(preds, n=3):
    z = np.zeros((len(preds), n))
    z[np.arange(len(preds)), preds] = 1.0
    return z


def test_paper_metrics_hand_worked_with_ties():
    # clip A (label 0): segments predict 0,0,1 -> M={0}: ACA no, SCA yes, BCA yes
    # clip B (label 1): segments predict 1,2     -> M={1,2} tie: SCA no, BCA yes
    # clip C (label 2): segments predict 2,2     -> all right: ACA, SCA, BCA yes
    # clip D (label 0): segments predict 1       -> all wrong
    preds = [0, 0, 1, 1, 2, 2, 2, 1]
    labels = [0, 0, 0, 1, 1, 2, 2, 0]
    clips = ["A", "A", "A", "B", "B", "C", "C", "D"]
    logits = onehot_logits(preds)
    logits[4, 2] = 3.0  # B: mean logits favour class 2 -> ALCA wrong for B
    m = segment_clip_metrics(logits, np.array(labels), clips)
    assert m["SA"] == pytest.approx(5 / 8)
    assert m["ACA"] == pytest.approx(1 / 4)
    assert m["SCA"] == pytest.approx(2 / 4)
    assert m["BCA"] == pytest.approx(3 / 4)
    assert m["ALCA"] == pytest.approx(2 / 4)  # A right (0: 2/3 vs 1: 1/3), B wrong, C right, D wrong


def test_vote_set_and_rules():
    lg = onehot_logits([0, 1, 1, 0, 2])
    assert list(Tally.of(lg).vote_set()) == [0, 1]
    assert decide(lg, "unique_majority") == -1
    assert decide(lg, "majority") == 0  # tied votes and tied mean logits: the first tied class
    lg[1, 1] = 1.5  # now class 1 has the larger mean logit among the tied
    assert decide(lg, "majority") == 1
    lg2 = np.array([[2.0, 0.0], [0.0, 0.5], [0.0, 0.5]])
    assert decide(lg2, "majority") == 1  # 2 votes for class 1
    assert decide(lg2, "mean_logits") == 0  # mean logit 0.67 vs 0.33
    # summed posteriors: softmax rows: [0.88,0.12], [0.38,0.62] x2 -> class 0 sum 1.64 vs 1.36
    assert decide(lg2, "summed_posteriors") == 0


def test_ua_is_macro_recall_and_abstention_is_wrong():
    y = np.array([0, 0, 0, 0, 1, 1])
    yhat = np.array([0, 0, 0, -1, 0, 1])
    m = classification_metrics(y, yhat, 2)
    assert m["UA"] == pytest.approx((3 / 4 + 1 / 2) / 2)
    assert m["WA"] == pytest.approx(4 / 6)


def test_mixed_labels_within_clip_rejected():
    with pytest.raises(ValueError, match="different labels"):
        segment_clip_metrics(onehot_logits([0, 1]), np.array([0, 1]), ["A", "A"])
