#!/bin/bash
# One clip and one hour with `segser predict` (the default model and runtime), an older tree against this one, in
# the same venv, alternating after a warm-up; prints wall time and peak RSS per run.
#   git worktree add /tmp/wt-v4 6db7b5f
#   HOUR=/tmp/hour.flac bash benchmarks/compare_speed.sh /tmp/wt-v4/src   # HOUR: sample.wav tiled to one hour
set -euo pipefail
OLD=$1
NEW=$(cd "$(dirname "$0")/../src" && pwd)
HOUR=${HOUR:?set HOUR to a one-hour recording}
PY=${PY:-$(cd "$(dirname "$0")/.." && pwd)/.venv/bin/python}
CLIP=${CLIP:-../shared/data/tess/OAF_back_angry.ogg}
run() { # $1 = src dir, rest = args
  local src=$1; shift
  /usr/bin/time -f "%e s %M KB" env PYTHONPATH=$src $PY -c "import sys; from segser.cli import main; sys.exit(main(sys.argv[1:]))" "$@" 2>&1 | tail -1
}
cd "$(dirname "$0")/.."
for v in $OLD $NEW; do run $v predict $CLIP --quiet --out /tmp/warm.csv >/dev/null; run $v predict $HOUR --quiet --out /tmp/warm-hour.csv > /dev/null; done
for i in 1 2; do
  for v in $OLD $NEW; do
    echo "$v clip: $(run $v predict $CLIP --quiet --out /tmp/c.csv)"
    echo "$v hour: $(run $v predict $HOUR --quiet --out /tmp/h.csv)"
  done
done
