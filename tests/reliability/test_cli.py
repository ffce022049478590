"""Hostile and careless use of the command line: every refusal is one clear line with exit 2, a failed input is
exit 1 and named once, nothing half-written or deleted, tampered files refused, silence, noise and 4 ms never get an
emotion or a word, one voice in one mood is not flattened, and voices are counted the same however long the file."""
import json
import os
import pickle
import shutil

import numpy as np
import pytest
import soundfile as sf

from segser.adaptation.heads import ADAPTATION_HEADS_FILE, AdaptationHeads, ZHead
from segser.model import resolve_model_dir
from segser.settings import data_dir
from tests.reliability.conftest import GOOD, clean_refusal, conversation, nonspeech_noise, tone

pytestmark = pytest.mark.reliability


@pytest.fixture(scope="module")
def work(tmp_path_factory):
    """A folder of toy clips and a CSV corpus of them."""
    tmp = tmp_path_factory.mktemp("cli")
    rows = ["path,label,speaker"]
    for k in range(8):
        sf.write(str(tmp / f"c{k}.wav"), tone(1.0) * (0.5 + 0.05 * k), 16000)
        rows.append(f"c{k}.wav,{'angry' if k % 2 else 'sad'},s{k % 4}")
    (tmp / "toy.csv").write_text("\n".join(rows) + "\n")
    return tmp


@pytest.fixture(scope="module")
def toy_run(work):
    from segser.cli import main

    assert main(["train", "--csv", str(work / "toy.csv"), "--backbone", "logmel", "--epochs", "3", "--protocol", "kfold:2",
                 "--speech-gate", "0", "--out", str(work / "run"), "--quiet"]) == 0
    return work / "run"


@pytest.mark.parametrize("opt,needle", [
    (["--segment", "nan"], "segment"), (["--hop", "nan"], "hop"), (["--segment", "0"], "segment"),
    (["--segment", "-1"], "segment"), (["--hop", "0"], "hop"), (["--hop", "inf"], "hop"), (["--hop", "0.000001"], "hop"),
    (["--speech-gate", "nan"], "speech_gate"), (["--speech-gate", "2"], "speech_gate"),
    (["--clip-min-score", "2"], "clip_min_score"),
    (["--speakers", "auto", "--num-speakers", "0"], "num-speakers"),
    (["--speakers", "auto", "--num-speakers", "100000"], "num-speakers"),
    (["--speakers", "auto", "--max-speakers", "-3"], "max-speakers"),
    (["--speakers", "auto", "--num-speakers", "5", "--max-speakers", "2"], "more than --max-speakers 2"),
    (["--num-speakers", "2"], "--speakers auto"), (["--speakers", "nobody"], "speakers"),
    (["--adapt", "none", "--speakers", "all"], "--adapt none"),
    (["--language", "de"], "--language goes with --transcribe"),
    (["--transcribe", "--language", "xx"], "language 'xx' is not one"),
    (["--transcribe", "--language", "Deutsch"], "language must be auto or a language code"),
    (["--transcribe", "--asr", "tiny.en", "--language", "de"], "English only"),
    (["--transcribe", "--language", ""], "language must be auto or a language code"),
    (["--transcribe", "--segments", "sentences"], "--segments"),
    (["--out", "/proc/x.json"], "cannot write"), (["--plot", "/proc/x.png"], "cannot write"),
])
def test_bad_predict_options_are_one_clear_line(cli, opt, needle):
    clean_refusal(cli("predict", GOOD, *opt), 2, needle)


def test_a_megabyte_option_value_is_not_echoed_whole(cli):
    err = clean_refusal(cli("predict", GOOD, "--transcribe", "--language", "x" * 100_000), 2, "language must be")
    assert len(err) < 300, len(err)


def test_serve_on_a_port_that_does_not_exist(cli):
    clean_refusal(cli("serve", "--port", "99999"), 2, "port must be")


@pytest.mark.parametrize("args,needle", [(["--segment", "nan"], "segment"), (["--backbone", "nosuch"], "nosuch"),
                                         (["--protocol", "lsoo"], "lsoo")])
def test_bad_train_options_are_refused_before_any_embedding(cli, work, args, needle):
    clean_refusal(cli("train", "--csv", work / "toy.csv", *args, "--out", work / "r0"), 2, needle)


def test_a_small_run_says_why_it_has_no_mood_check_and_writes_its_adaptation_heads(toy_run):
    fitted = json.loads((toy_run / "metrics.json").read_text())["adaptation"]
    assert "fewer than" in fitted["mood_check"]["reason"] and (toy_run / ADAPTATION_HEADS_FILE).exists()
    assert not (toy_run / "mood.npz").exists()


def test_a_run_without_companions_writes_neither(cli, work):
    clean_refusal(cli("train", "--csv", work / "toy.csv", "--backbone", "logmel", "--epochs", "3", "--protocol", "kfold:2",
                      "--speech-gate", "0", "--no-mood-check", "--no-adaptation-heads", "--out", work / "bare", "--quiet"), 0)
    assert not list((work / "bare").glob("*.npz"))


def test_refused_and_failed_training_runs_leave_an_existing_run_untouched(cli, work, toy_run):
    before = sorted((p.name, p.stat().st_size) for p in toy_run.iterdir())
    clean_refusal(cli("train", "--csv", work / "toy.csv", "--out", toy_run), 2, "already exists")
    clean_refusal(cli("train", "--csv", work / "toy.csv", "--labels", "angry", "--out", toy_run, "--overwrite"), 2)
    assert sorted((p.name, p.stat().st_size) for p in toy_run.iterdir()) == before


@pytest.mark.parametrize("name,text,extra,needle", [
    ("one class", "path,label,speaker\nc0.wav,sad,s0\nc2.wav,sad,s1\n", [], "at least two"),
    ("a row whose file is missing", None, [], "gone.wav"),
    ("tones with the speech gate", None, ["--backbone", "logmel", "--epochs", "3", "--protocol", "kfold:2"],
     "no training segment has speech"),
])
def test_training_data_that_cannot_train_is_a_clear_error(cli, work, name, text, extra, needle):
    csv = work / f"{name.replace(' ', '-')}.csv"
    csv.write_text(text if text else (work / "toy.csv").read_text() + ("gone.wav,sad,s0\n" if "missing" in name else ""))
    clean_refusal(cli("train", "--csv", csv, *extra, "--out", work / f"r-{len(name)}", "--quiet"), 2, needle)


def test_a_config_that_is_not_json(cli, work):
    (work / "bad.json").write_text("{oops")
    clean_refusal(cli("train", "--config", work / "bad.json", "--out", work / "r3"), 2)


def test_a_bad_file_among_good_ones_is_exit_1_named_once_and_recorded(cli, work):
    (work / "bad.wav").write_text("not audio")
    err = clean_refusal(cli("predict", GOOD, work / "bad.wav", "--out", work / "x.csv", "--quiet"), 1)
    assert err.count("bad.wav: unreadable or not audio") == 1
    table = (work / "x.csv").read_text()
    assert "bad.wav" in table and "not audio" in table


def test_a_textgrid_of_a_failed_input_is_not_written(cli, work):
    clean_refusal(cli("predict", work / "bad.wav", "--out", work / "x.TextGrid"), 1, "x.TextGrid not written")
    assert not (work / "x.TextGrid").exists()


@pytest.mark.parametrize("kind,needle", [("fifo", "not a regular file"), ("loop", "symbolic link loop"),
                                         ("empty", "empty file"), ("4 ms", "too short")])
def test_odd_files_are_exit_1_with_the_reason(cli, work, kind, needle):
    path = work / f"odd-{kind.replace(' ', '')}.wav"
    if kind == "fifo":
        os.mkfifo(path)
    elif kind == "loop":
        os.symlink(path, path)
    elif kind == "empty":
        path.write_bytes(b"")
    else:
        sf.write(str(path), tone(0.004), 16000)
    clean_refusal(cli("predict", path), 1, needle)


def test_the_same_file_twice_is_one_entry(cli):
    p = cli("predict", GOOD, GOOD, "--json", "--quiet")
    assert p.returncode == 0 and len(json.loads(p.stdout)["files"]) == 1


def test_rttm_without_speakers_is_refused_and_not_written(cli, work):
    clean_refusal(cli("predict", GOOD, "--out", work / "x.rttm"), 2, "--speakers auto")
    assert not (work / "x.rttm").exists()


def test_speakers_auto_on_near_silence_and_on_three_silent_hours(cli, work):
    sf.write(str(work / "quiet.wav"), (1e-4 * np.random.default_rng(1).standard_normal(16000 * 4)).astype(np.float32), 16000)
    clean_refusal(cli("predict", work / "quiet.wav", "--speakers", "auto"), 1, "no speech")
    with sf.SoundFile(str(work / "three-hours.flac"), "w", 16000, 1, format="FLAC") as f:
        for _ in range(3 * 60):  # no cap on a conversation's length: read in bounded memory, then said to be silent
            f.write(np.full(16000 * 60, 1e-3, np.float32))
    clean_refusal(cli("predict", work / "three-hours.flac", "--speakers", "auto"), 1, "no speech")


def test_a_nan_late_in_a_conversation_is_named_with_its_time(cli, work):
    talk = np.concatenate([sf.read(str(GOOD), dtype="float32")[0]] * 30)
    talk[16000 * 50] = np.nan
    sf.write(str(work / "late-nan.wav"), talk, 16000, subtype="FLOAT")
    clean_refusal(cli("predict", work / "late-nan.wav", "--speakers", "auto"), 1, "NaN")


def test_a_voice_encoder_checkpoint_that_would_run_code_is_refused(cli, work):
    marker = work / "pwned"

    class Evil:
        def __reduce__(self):
            return (os.system, (f"touch {marker}",))

    (work / "evil.pt").write_bytes(pickle.dumps(0x1950A86A20F9469CFC6C) + pickle.dumps(1001) + pickle.dumps({})
                                   + pickle.dumps(Evil()))
    clean_refusal(cli("predict", GOOD, "--speakers", "auto", env={"SEGSER_RESEMBLYZER": str(work / "evil.pt")}), 2,
                  "not a Resemblyzer voice encoder checkpoint")
    assert not marker.exists()


def test_the_int8_encoder_gives_a_file_the_same_answer_alone_or_in_a_batch(cli, work):
    alone = json.loads(cli("predict", GOOD, "--adapt", "none", "--json", "--quiet").stdout)["files"][0]["segments"]
    many = cli("predict", *[work / f"c{k}.wav" for k in range(4)], GOOD, *[work / f"c{k}.wav" for k in range(4, 8)],
               "--adapt", "none", "--json", "--quiet")
    mixed = [f for f in json.loads(many.stdout)["files"] if f["file"].endswith(GOOD.name)][0]["segments"]
    assert alone == mixed


@pytest.fixture(scope="module")
def broken(work):
    return work / "broken-model"


@pytest.mark.parametrize("damage,needle", [("mood", "mood.npz unreadable"), ("heads", "adaptation_heads.npz unreadable"),
                                           ("other model", "belongs to another model"), ("nan", "no valid speaker head")])
def test_damaged_companions_of_a_model_are_refused(cli, broken, damage, needle):
    shutil.rmtree(broken, ignore_errors=True)
    shutil.copytree(resolve_model_dir("default-4class")[0], broken)
    layer = ZHead(np.zeros(384), np.ones(384), np.zeros((8, 384)), np.zeros(8), np.zeros((4, 8)), np.zeros(4))
    if damage == "mood":
        (broken / "mood.npz").write_bytes(b"\x00" * 64)
    elif damage == "heads":
        (broken / ADAPTATION_HEADS_FILE).write_bytes(b"PK\x03\x04" + b"\x00" * 60)
    elif damage == "other model":
        AdaptationHeads({"speaker": layer, "collection": layer}).save(broken / ADAPTATION_HEADS_FILE)
    else:
        nan = ZHead(np.zeros(1920), np.ones(1920), np.full((8, 1920), np.nan), np.zeros(8), np.zeros((4, 8)), np.zeros(4))
        ok = ZHead(np.zeros(1920), np.ones(1920), np.zeros((8, 1920)), np.zeros(8), np.zeros((4, 8)), np.zeros(4))
        AdaptationHeads({"speaker": nan, "collection": ok}).save(broken / ADAPTATION_HEADS_FILE)
    clean_refusal(cli("predict", GOOD, "--model", broken), 2, needle)


ANGRY = [str(f) for f in sorted((data_dir() / "savee").glob("DC_a[0-9]*.ogg"))]


def labels(p) -> list[str]:
    return [f["decision"]["label"] for f in json.loads(p.stdout)["files"]]


@pytest.mark.parametrize("model", ["default-4class", "default"])
def test_one_voice_in_one_mood_is_not_flattened(cli, model):
    plain = cli("predict", *ANGRY, "--model", model, "--adapt", "none", "--json", "--quiet")
    voice = cli("predict", *ANGRY, "--model", model, "--speakers", "all", "--json", "--quiet")
    folder = cli("predict", *ANGRY, "--model", model, "--json", "--quiet")
    assert labels(voice) == labels(plain) == labels(folder)
    assert json.loads(voice.stdout)["files"][0]["adaptation"]["one_mood_probability"] is not None
    notes = {(f["adaptation"]["group"], f["adaptation"]["mode"]) for f in json.loads(folder.stdout)["files"]}
    assert notes == {("the collection", "none")}


def test_four_one_mood_speakers_and_a_silent_file_in_a_speaker_table(cli, work):
    pick = {"DC": ("a", "angry"), "JE": ("h", "happy"), "JK": ("n", "neutral"), "KL": ("sa", "sad")}
    moods = [(str(f), sp, label) for sp, (code, label) in pick.items()
             for f in sorted((data_dir() / "savee").glob(f"{sp}_{code}[0-9]*.ogg"))[:10]]
    silent = work / "silent-speaker.wav"
    sf.write(str(silent), np.zeros(16000 * 20, np.float32), 16000)
    (work / "moods.csv").write_text("file,speaker\n" + "".join(f"{f},{sp}\n" for f, sp, _ in moods) + f"{silent},DC\n")
    auto = cli("predict", *[f for f, _, _ in moods], silent, "--model", "default-4class", "--speakers", work / "moods.csv",
               "--json", "--quiet")
    clean_refusal(auto, 1, "silence")
    plain = cli("predict", *[f for f, _, _ in moods], "--model", "default-4class", "--adapt", "none", "--json", "--quiet")

    def ua(p):
        got = {f["file"]: f["decision"]["label"] for f in json.loads(p.stdout)["files"]}
        return np.mean([np.mean([got.get(f) == lab for f, _, lab_ in moods if lab_ == lab]) for _, lab in pick.values()])

    assert ua(auto) >= ua(plain) - 0.01 and len(json.loads(auto.stdout)["files"]) == len(moods)


@pytest.mark.parametrize("model", ["default-4class", "default"])
def test_silence_4_ms_and_noise_never_get_an_emotion(cli, work, model):
    sf.write(str(work / "zeros.wav"), np.zeros(16000 * 20, np.float32), 16000)
    sf.write(str(work / "tiny.wav"), tone(0.004), 16000)
    sf.write(str(work / "nonspeech.wav"), nonspeech_noise(), 16000)
    sf.write(str(work / "full-scale.wav"), np.random.default_rng(2).uniform(-1, 1, 16000 * 5).astype(np.float32), 16000)
    clean_refusal(cli("predict", work / "zeros.wav", "--model", model), 1, "silence")
    clean_refusal(cli("predict", work / "tiny.wav", "--model", model), 1, "too short")
    for noise in ("nonspeech.wav", "full-scale.wav"):
        p = cli("predict", work / noise, "--model", model, "--transcribe", "--language", "en", "--json", "--quiet")
        f = json.loads(p.stdout)["files"][0]
        assert p.returncode == 0 and f["decision"]["label"] == "no speech" and f["words"] == []
        assert all(s["label"] in ("no speech", "uncertain") for s in f["segments"])


@pytest.mark.parametrize("rows", ["file,speaker\nc0.wav,x\nc0.wav,x\n", "file,speaker\nc0.wav,x\nc0.wav,y\n"])
def test_a_speaker_table_lists_each_file_once(cli, work, rows):
    (work / "spk.csv").write_text(rows)
    clean_refusal(cli("predict", work / "c0.wav", "--speakers", work / "spk.csv"), 2, "listed twice")


def test_overwrite_never_replaces_a_folder_of_recordings(cli, work, toy_run):
    folder = work / "takes"
    folder.mkdir(exist_ok=True)
    for i in range(3):
        sf.write(str(folder / f"take{i}.flac"), tone(1.0), 16000)
    before = sorted(f.name for f in folder.iterdir())
    clean_refusal(cli("export", toy_run, "--out", folder, "--overwrite", "--no-int8"), 2, "not a segser export")
    clean_refusal(cli("train", "--csv", work / "toy.csv", "--speech-gate", "0", "--out", folder, "--overwrite", "--quiet"), 2,
                  "not a segser run")
    assert sorted(f.name for f in folder.iterdir()) == before


def test_exports_are_tamper_evident_and_overwrite_keeps_foreign_files(cli, work, toy_run):
    out = work / "exp"
    clean_refusal(cli("export", toy_run, "--out", out, "--no-int8"), 0)
    (out / "mynotes.txt").write_text("keep me")
    clean_refusal(cli("export", toy_run, "--out", out, "--overwrite", "--no-int8"), 2, "mynotes.txt")
    assert (out / "mynotes.txt").read_text() == "keep me"
    (out / "mynotes.txt").unlink()
    doc = json.loads((out / "export.json").read_text())
    doc["classes"] = doc["classes"][::-1]
    (out / "export.json").write_text(json.dumps(doc, indent=2))
    clean_refusal(cli("predict", GOOD, "--model", out), 2, "export.json is altered")
    clean_refusal(cli("export", toy_run, "--out", out, "--overwrite", "--no-int8"), 0)
    with open(out / "head.onnx", "r+b") as f:
        f.seek(100)
        f.write(b"\x00\x01")
    clean_refusal(cli("predict", GOOD, "--model", out), 2, "altered")


PCM = (tone(2.0) * 32767).astype("<i2").tobytes()


@pytest.mark.parametrize("name,data,args,code,needle", [
    ("whole samples", PCM, [], 0, ""), ("a stray byte at the end", PCM + b"\x01", [], 2, "stray"),
    ("--rate nan", PCM, ["--rate", "nan"], 2, "rate"), ("--adapt speaker", PCM, ["--adapt", "speaker"], 0, ""),
    ("--adapt collection", PCM, ["--adapt", "collection"], 2, "collection"),
    ("--channels 0", PCM, ["--channels", "0"], 2, "channels"), ("empty input", b"", [], 1, "no segment"),
])
def test_listen_on_stdin(cli, toy_run, name, data, args, code, needle):
    clean_refusal(cli("listen", "--stdin", "--model", toy_run, *args, input=data), code, needle)


def test_voices_are_counted_the_same_however_long_the_call(cli, work):
    sf.write(str(work / "call-1h.flac"), conversation(3600.0), 16000)
    p = cli("predict", work / "call-1h.flac", "--speakers", "auto", "--json", "--quiet")
    assert p.returncode == 0 and len(json.loads(p.stdout)["files"][0]["speakers"]) == 2


@pytest.mark.xfail(strict=True, reason="one EmoDB voice acting seven emotions is heard as several voices: Resemblyzer "
                                       "separates one speaker's emotions no worse than two real speakers (issue 43, "
                                       "blocked on a stronger speaker encoder)")
def test_one_voice_in_seven_emotions_is_one_speaker(cli, work):
    from segser.io.audio import load

    clips = sorted((data_dir() / "emodb").glob("03*.flac"))[:7]
    sf.write(str(work / "one-speaker.wav"), np.concatenate([load(f) for f in clips]), 16000)
    p = cli("predict", work / "one-speaker.wav", "--speakers", "auto", "--json", "--quiet")
    assert len(json.loads(p.stdout)["files"][0]["speakers"]) == 1


@pytest.mark.load
def test_two_hours_transcribed_in_bounded_memory(cli, work, record_property):
    sf.write(str(work / "call-2h.flac"), conversation(7200.0), 16000)
    p = cli("predict", work / "call-2h.flac", "--transcribe", "--language", "en", "--quiet", "--out", work / "2h.json",
            timeout=3600)
    assert p.returncode == 0 and len(json.loads((work / "2h.json").read_text())["files"][0]["words"]) > 10_000


@pytest.mark.parametrize("members", [10**9, 0, "five"])
def test_a_model_file_claiming_absurd_ensemble_members_is_refused_before_any_is_built(cli, broken, members):
    import torch

    shutil.rmtree(broken, ignore_errors=True)
    shutil.copytree(resolve_model_dir("default-4class")[0], broken)
    state = torch.load(broken / "model.pt", weights_only=True)
    state["members"] = members
    torch.save(state, broken / "model.pt")
    (broken / "model.pt.sha256").unlink()
    clean_refusal(cli("predict", GOOD, "--model", broken, "--runtime", "torch"), 2, "ensemble members")


@pytest.mark.parametrize("change,needle", [({"ensemble": 0}, "ensemble"), ({"ensemble": 10**9}, "ensemble"),
                                           ({"ensemble": "five"}, "ensemble"),
                                           ({"prior_correction": True}, "at least two training corpora")])
def test_bad_ensemble_and_prior_correction_settings_are_one_clear_line(cli, work, change, needle):
    config = {"corpora": [{"name": "csv", "root": str(work / "toy.csv")}], "backbone": "logmel", "max_epochs": 2,
              "protocol": "kfold:2", "speech_gate": 0, **change}
    (work / "bad.json").write_text(json.dumps(config))
    clean_refusal(cli("train", "--config", work / "bad.json", "--out", work / "never"), 2, needle)
    assert not (work / "never").exists()


@pytest.mark.parametrize("tensor,value", [("offsets", float("nan")), ("temperatures", 0.0), ("temperatures", float("inf"))])
def test_a_model_file_with_broken_ensemble_calibration_is_refused(cli, broken, tensor, value):
    import torch

    shutil.rmtree(broken, ignore_errors=True)
    shutil.copytree(resolve_model_dir("default-4class")[0], broken)
    state = torch.load(broken / "model.pt", weights_only=True)
    state["state_dict"][tensor][0] = value
    torch.save(state, broken / "model.pt")
    (broken / "model.pt.sha256").unlink()
    clean_refusal(cli("predict", GOOD, "--model", broken, "--runtime", "torch"), 2, "non-finite class offsets")
