"""Ray from the command line: a bad file among good ones is named on the console and exit 1, a rerun still accounts
for it, no warning names an install path, and a local Ray that segser starts leaves no process behind."""
import time
from pathlib import Path

import pytest

from tests.reliability.conftest import GOOD, clean_refusal

pytestmark = pytest.mark.reliability
pytest.importorskip("ray")


def ray_processes() -> list[Path]:
    def read(p):
        try:
            return p.read_bytes()
        except OSError:
            return b""

    return [q for q in Path("/proc").glob("[0-9]*/cmdline") if b"ray::" in read(q) or b"raylet" in read(q)]


def test_a_bad_file_on_ray_is_named_and_a_rerun_accounts_for_it(cli, tmp_path):
    folder = tmp_path / "in"
    folder.mkdir()
    (folder / "good.wav").write_bytes(GOOD.read_bytes())
    (folder / "bad.wav").write_text("not audio")
    args = ["predict", folder, "--ray", "--workers", "1", "--out", tmp_path / "out"]
    err = clean_refusal(cli(*args), 1, "bad.wav: unreadable or not audio")
    assert "site-packages" not in err and "Warning" not in err, err
    clean_refusal(cli(*args), 1, "1 failed of the 2")
    time.sleep(2)
    assert not ray_processes()
