"""Smoke variant of `segser benchmark`: every number in the report comes from a run."""
import json

from segser.cli import main


def test_benchmark_smoke_numbers_come_from_runs(toy_corpus, tmp_path, capsys):
    suite = {"name": "smoke", "seed": 3, "corpora": [{"name": "csv", "root": str(toy_corpus)}],
             "pipelines": [{"name": "logmel-segment", "speech_gate": 0, "backbone": "logmel", "head": "segment", "max_epochs": 15},
                           {"name": "logmel-linear", "speech_gate": 0, "backbone": "logmel", "head": "linear", "max_epochs": 15}]}
    (tmp_path / "suite.json").write_text(json.dumps(suite))
    assert main(["benchmark", "--suite", str(tmp_path / "suite.json"), "--out", str(tmp_path / "bench"), "--folds", "0,1",
                 "--quiet"]) == 0
    results = json.loads((tmp_path / "bench" / "results.json").read_text())
    report = (tmp_path / "bench" / "report.md").read_text()
    assert len(results["results"]) == 2
    for r in results["results"]:
        metrics = json.loads((tmp_path / "bench" / f"{r['pipeline']}--csv" / "metrics.json").read_text())
        assert metrics["provenance"]["seed"] == 3 and r["n_folds"] == 2
        for k, v in r["summary"].items():
            assert v == metrics["summary"][k]
            assert f"{v['mean']:.3f} ± {v['std']:.3f}" in report
        fold_ua = [f["UA"] for f in metrics["folds"]]
        assert abs(sum(fold_ua) / len(fold_ua) - r["summary"]["UA"]["mean"]) < 1e-9
