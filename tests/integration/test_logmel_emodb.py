"""Issue 2's acceptance: the logmel baseline on real EmoDB, speakers held out."""
import pandas as pd
import pytest

from segser.training.config import CorpusSpec, TrainConfig
from segser.training.train import run

pytestmark = pytest.mark.integration


def test_logmel_baseline_beats_chance_on_held_out_speakers(shared_data, tmp_path):
    cfg = TrainConfig(corpora=(CorpusSpec("emodb", str(shared_data / "emodb")),), backbone="logmel", head="mlp",
                      head_options={"layers": 2, "units": 200}, folds=(0, 4, 9), final_model=False, seed=0)
    result = run(cfg, tmp_path / "run", progress=False)
    assert result["provenance"]["protocol"] == "loso" and result["provenance"]["speaker_independent"]
    ua = result["summary"]["UA"]["mean"]
    assert ua > 2 * result["chance"]["UA"], ua  # chance is 1/7
    preds = pd.read_csv(tmp_path / "run" / "predictions.csv")
    for fold, g in preds.groupby("fold"):
        assert g["speaker"].nunique() == 1 and fold.endswith(g["speaker"].iloc[0])
    segs = pd.read_csv(tmp_path / "run" / "segments.csv")
    assert segs.groupby("path")["fold"].nunique().max() == 1  # a clip's segments stay in one fold
