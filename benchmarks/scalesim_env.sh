#!/usr/bin/env bash
# Create the SCALE-Sim 3.0.0 virtual environment used by benchmarks/scalesim_peer.py
# (the script also does this itself on first use). SCALE-Sim 3.0.0 crashes with numpy 2,
# hence its own venv; .venv*/ is git-ignored.
set -euo pipefail
repo="$(cd "$(dirname "$0")/.." && pwd)"
venv="$repo/.venv-scalesim"
if [ ! -x "$venv/bin/python" ]; then
    python3 -m venv "$venv"
fi
"$venv/bin/python" -m pip install -q "scalesim==3.0.0" "numpy<2" "pandas<3"
"$venv/bin/python" -c "import scalesim.scale_sim, numpy; print('scalesim venv ready:', '$venv', 'numpy', numpy.__version__)"
