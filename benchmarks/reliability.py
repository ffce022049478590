"""Runs the hostile and careless probes (the ``reliability`` tests in tests/reliability/, with the ``load`` ones:
32 concurrent ten-minute conversations, 48 concurrent uploads, two hours transcribed) and writes their outcome,
each probe's peak RSS and the load figures to benchmarks/results/reliability.json.

    python benchmarks/reliability.py [-k EXPRESSION]
"""
import argparse
import subprocess
import sys
import tempfile
import xml.etree.ElementTree as ET
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from common import save  # noqa: E402

ROOT = Path(__file__).resolve().parents[1]


def main() -> int:
    ap = argparse.ArgumentParser()
    ap.add_argument("-k", help="only the probes matching this pytest expression")
    args = ap.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        report = Path(tmp) / "probes.xml"
        cmd = [sys.executable, "-m", "pytest", "-m", "reliability", "tests/reliability", "-q", "-p", "no:cacheprovider",
               f"--junitxml={report}", "-o", "junit_family=xunit1"] + (["-k", args.k] if args.k else [])
        subprocess.run(cmd, cwd=ROOT)
        cases = ET.parse(report).getroot().iter("testcase")
        probes = []
        for case in cases:
            props = {p.get("name"): p.get("value") for p in case.iter("property")}
            outcome = ("failed" if case.find("failure") is not None or case.find("error") is not None else
                       "xfailed" if (case.find("skipped") is not None and "xfail" in (case.find("skipped").get("type") or ""))
                       else "skipped" if case.find("skipped") is not None else "passed")
            probes.append({"probe": f"{case.get('classname').split('.')[-1]}::{case.get('name')}", "outcome": outcome,
                           "seconds": round(float(case.get("time") or 0), 1),
                           **{k: float(v) for k, v in props.items()}})
    counted = [p for p in probes if p["outcome"] != "skipped"]
    passed = sum(p["outcome"] == "passed" for p in counted)
    print(f"{passed} of {len(counted)} probes pass")
    save("reliability", {"probes": probes, "passed": passed, "total": len(counted),
                         "known_failing": [p["probe"] for p in counted if p["outcome"] == "xfailed"],
                         "failed": [p["probe"] for p in counted if p["outcome"] == "failed"],
                         "max_rss_mb": max((p.get("peak_rss_mb", 0) for p in probes), default=0),
                         "load": {p["probe"]: {k: v for k, v in p.items() if k not in ("probe", "outcome")}
                                  for p in probes if "server_peak_rss_mb" in p or "health_p99_ms" in p}})
    return 0 if passed == len(counted) - len([p for p in counted if p["outcome"] == "xfailed"]) else 1


if __name__ == "__main__":
    sys.exit(main())
