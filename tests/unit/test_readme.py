"""The README stays true: its figures are what the committed result files say,
and its example output is what `segser predict` prints today."""
import re
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
README = (ROOT / "README.md").read_text()


def test_readme_figures_match_the_result_files():
    proc = subprocess.run([sys.executable, str(ROOT / "benchmarks" / "render.py"), "--check"], capture_output=True, text=True)
    assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-1000:]


def test_every_rendered_section_names_its_source():
    pages = [README] + [p.read_text() for p in sorted((ROOT / "docs").rglob("*.md"))]
    blocks = [b for page in pages for b in re.findall(r"<!-- render: ([\w-]+) -->\n(.*?)<!-- /render -->", page, re.S)]
    assert len(blocks) >= 30
    for name, body in blocks:
        if name == "module-map":  # the package tree, from its docstrings
            continue
        assert "benchmarks/results/" in body or "card.json" in body, f"section {name} does not say where its figures come from"


def test_the_readme_is_a_landing_page():
    assert len(README.splitlines()) < 250
    assert "<!-- render: module-map -->" in README and "<!-- render: headline -->" in README


def test_the_documentation_site_builds_strict(tmp_path):
    """mkdocs (Material, mkdocstrings for the API reference) with every warning an error: no broken link, no page
    left out of the navigation, every documented name found."""
    import os

    if not __import__("importlib").util.find_spec("mkdocs"):
        if os.environ.get("CI", "").lower() in ("1", "true", "yes"):
            pytest.fail("mkdocs is not installed (the docs extra) - required in CI")
        pytest.skip("mkdocs is not installed: pip install -e '.[docs]'")
    proc = subprocess.run([sys.executable, "-m", "mkdocs", "build", "--strict", "-d", str(tmp_path / "site")], cwd=ROOT,
                          capture_output=True, text=True, env={**os.environ, "NO_MKDOCS_2_WARNING": "1"})
    assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-3000:]
    assert (tmp_path / "site" / "reference" / "api" / "index.html").read_text().count("Pipeline") > 3


def test_first_two_code_blocks_install_and_test():
    blocks = re.findall(r"```(?:bash)?\n(.*?)```", README, re.S)
    assert "pip install -e" in blocks[0] and "segser predict" in blocks[0]
    assert "pytest tests" in blocks[1]


@pytest.mark.integration
def test_readme_example_is_what_predict_prints(shared_data, capsys):
    from segser.cli import main

    m = re.search(r"\$ segser predict (\S+)\n(.*?)```", README, re.S)
    assert m, "README has no '$ segser predict FILE' example"
    arg, shown = m.group(1), m.group(2)
    path = shared_data / Path(arg).relative_to("../shared/data")
    assert main(["predict", str(path)]) == 0
    printed = capsys.readouterr().out.replace(str(path), arg)
    assert printed.strip() == shown.strip()
