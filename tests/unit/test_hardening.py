"""Defects found by hostile re-tests, each with a test that fails without its fix: --overwrite replaces only what
is recognisably segser's own (and never a file an export did not write), an edited export is refused, a Ray
result folder is accounted for whole, a speaker table lists a file once."""
import json

import numpy as np
import pandas as pd
import pytest

from segser.cli import main
from segser.errors import ConfigError
from segser.io.files import RunDirectory


@pytest.fixture()
def toy_run(toy_corpus, tmp_path):
    out = tmp_path / "run"
    assert main(["train", "--speech-gate", "0", "--csv", str(toy_corpus), "--backbone", "logmel", "--epochs", "3",
                 "--protocol", "kfold:2", "--out", str(out), "--quiet"]) == 0
    return out


def folder_of_recordings(folder, n=5):
    folder.mkdir()
    for i in range(n):
        (folder / f"take{i}.flac").write_bytes(b"fLaC" + bytes([i]) * 100)
    return sorted((p.name, p.read_bytes()) for p in folder.iterdir())


def test_export_overwrite_never_replaces_a_folder_that_is_not_an_export(toy_run, tmp_path, capsys):
    recordings = tmp_path / "recordings"
    before = folder_of_recordings(recordings)
    assert main(["export", str(toy_run), "--out", str(recordings), "--overwrite", "--no-int8"]) == 2
    assert "not a segser export (no export.json)" in capsys.readouterr().err
    assert sorted((p.name, p.read_bytes()) for p in recordings.iterdir()) == before
    # an earlier export is replaced
    assert main(["export", str(toy_run), "--out", str(tmp_path / "exp"), "--no-int8"]) == 0
    assert main(["export", str(toy_run), "--out", str(tmp_path / "exp"), "--overwrite", "--no-int8"]) == 0
    assert (tmp_path / "exp" / "export.json").exists()


def test_export_overwrite_never_deletes_a_file_the_export_did_not_write(toy_run, tmp_path, capsys):
    out = tmp_path / "exp"
    assert main(["export", str(toy_run), "--out", str(out), "--no-int8"]) == 0
    (out / "mynotes.txt").write_text("keep me")
    assert main(["export", str(toy_run), "--out", str(out), "--overwrite", "--no-int8"]) == 2
    assert "mynotes.txt, which segser export did not write" in capsys.readouterr().err
    assert (out / "mynotes.txt").read_text() == "keep me"


def test_an_export_whose_export_json_was_edited_is_refused(toy_run, tmp_path, capsys):
    """Reversing the class names would relabel every prediction: export.json has a checksum of its own."""
    out = tmp_path / "exp"
    assert main(["export", str(toy_run), "--out", str(out), "--no-int8"]) == 0
    wav = str(toy_run.parent / "wav" / "s0_angry_0.wav")
    capsys.readouterr()
    assert main(["predict", wav, "--model", str(out), "--adapt", "none"]) == 0
    doc = json.loads((out / "export.json").read_text())
    doc["classes"] = doc["classes"][::-1]
    (out / "export.json").write_text(json.dumps(doc, indent=2))
    capsys.readouterr()
    assert main(["predict", wav, "--model", str(out), "--adapt", "none"]) == 2
    assert "export.json is altered (sha256 mismatch" in capsys.readouterr().err
    (out / "export.json.sha256").unlink()
    assert main(["predict", wav, "--model", str(out)]) == 2
    assert "no export.json.sha256" in capsys.readouterr().err


def test_train_overwrite_never_replaces_a_folder_that_is_not_a_run(toy_corpus, tmp_path, capsys):
    recordings = tmp_path / "recordings"
    before = folder_of_recordings(recordings)
    assert main(["train", "--speech-gate", "0", "--csv", str(toy_corpus), "--backbone", "logmel", "--epochs", "2",
                 "--out", str(recordings), "--overwrite", "--quiet"]) == 2
    assert "not a segser run directory" in capsys.readouterr().err
    assert sorted((p.name, p.read_bytes()) for p in recordings.iterdir()) == before
    with RunDirectory(tmp_path / "empty", overwrite=True):  # an empty folder may be filled
        pass


def test_ray_out_refuses_a_foreign_folder(tmp_path):
    from segser.runtime.cluster import claim

    recordings = tmp_path / "recordings"
    before = folder_of_recordings(recordings)
    with pytest.raises(ConfigError, match="something other than segser's Parquet results"):
        claim(recordings)
    assert sorted((p.name, p.read_bytes()) for p in recordings.iterdir()) == before
    run, done = claim(tmp_path / "fresh")
    assert done == set() and claim(tmp_path / "fresh")[0] != run  # a folder segser wrote is claimed again


def test_a_resumed_ray_folder_accounts_for_earlier_failures(tmp_path):
    """The summary of a rerun counts what the whole folder holds, not only what this run did."""
    from segser.runtime.cluster import folder_account, write_parquet

    out = tmp_path / "out"
    write_parquet(pd.DataFrame({"file": ["a.wav", "b.wav"], "label": ["sad", "sad"]}), out / "decisions" / "part-1.parquet")
    write_parquet(pd.DataFrame({"file": ["bad.wav"], "error": ["bad.wav: not audio"]}), out / "errors" / "part-1.parquet")
    account = folder_account(out, ["a.wav", "b.wav", "bad.wav", "new.wav"], {})
    assert account == {"done_in_folder": 2, "failed_in_folder": 1, "missing_in_folder": 1,
                       "failures": {"bad.wav": "bad.wav: not audio"}}
    assert folder_account(out, ["a.wav"], {}) == {"done_in_folder": 1, "failed_in_folder": 0, "missing_in_folder": 0,
                                                  "failures": {}}


def test_prediction_options_are_checked_in_the_python_api_too(toy_run, toy_corpus):
    from segser import predict

    wav = str(toy_corpus.parent / "wav" / "s0_angry_0.wav")
    for bad, message in (({"min_score": 5}, "min_score"), ({"speech_gate": np.nan}, "speech_gate"),
                         ({"rule": "vote"}, "aggregation rule"), ({"hop": 0}, "segment hop"), ({"adapt": "some"}, "adapt"),
                         ({"window": 3}, "unknown prediction option")):
        with pytest.raises(ConfigError, match=message):
            predict([wav], toy_run, **bad)


def test_the_default_adaptation_never_refuses_a_large_batch(toy_run, toy_corpus, monkeypatch):
    """Past the bound on segments held at once, an explicit collection is refused; the default (auto) gives way:
    the batch is predicted without adaptation, and each file says so."""
    import segser.pipeline
    from segser import predict

    monkeypatch.setattr(segser.pipeline, "MAX_GROUP_SEGMENTS", 10)
    files = sorted(str(p) for p in (toy_corpus.parent / "wav").glob("s0_*.wav"))  # 12 clips, 24 segments
    _, decisions, errors = predict(files, toy_run, adapt="collection")
    assert decisions.empty and all("more than 10 segments to adapt together" in e for e in errors.values())
    _, decisions, errors = predict(files, toy_run)
    assert not errors and len(decisions) == len(files)
    assert decisions["adapt_batch"].notna().sum() == len(files)
