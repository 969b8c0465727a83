#!/usr/bin/env bash
# The GPU check (issue 16, item 4), for a machine with an NVIDIA GPU:
#   1. an environment from the project's own files (a .venv that already imports torch and the
#      suite is reused, so a machine without network access can run this after one setup);
#   2. the tests marked `gpu` (tests/test_gpu_real.py) and the fake-CUDA tests (tests/test_gpu_path.py);
#   3. the quick suite's latency probe on one proxy, on CUDA and on the CPU, timed end to end, with
#      the medians side by side.
# Everything goes to $OUT when it is set (otherwise results/gpu-check): pytest log and JUnit XML,
# provenance.json, the results folder, latency.csv and timing.txt.
# Exit status: 0 all passed; 1 a test or the run failed; 3 no CUDA device (nothing was measured).
set -euo pipefail
cd "$(dirname "$0")/.."

DEST="${OUT:-results/gpu-check}"
mkdir -p "$DEST"
VARIANT="${GPU_CHECK_VARIANT:-qwen3-0.6b}"  # RoPE, RMSNorm, SwiGLU, GQA, q/k norm

# ---------------------------------------------------------------- 1. environment
if [ -x .venv/bin/archbench ] && .venv/bin/python -c "import torch, suite, pytest" 2>/dev/null; then
  echo "using the existing .venv"
else
  python3 -m venv .venv
  .venv/bin/pip install -q -e ".[test]"
fi
PY=.venv/bin/python

if command -v nvidia-smi >/dev/null 2>&1; then
  nvidia-smi | tee "$DEST/nvidia-smi.txt"
fi
if ! "$PY" -c "import sys, torch; sys.exit(0 if torch.cuda.is_available() else 1)"; then
  echo "no CUDA device: torch $("$PY" -c 'import torch; print(torch.__version__)') sees none; nothing measured" \
    | tee "$DEST/timing.txt"
  exit 3
fi
"$PY" -c "import json; from suite.results import provenance; print(json.dumps(provenance(), indent=2))" \
  | tee "$DEST/provenance.json"

# ---------------------------------------------------------------- 2. tests
status=0
# every test marked gpu (tests/test_gpu_real.py today); a skip here means torch lost the device
"$PY" -m pytest -q -rs -m gpu -p no:cacheprovider --junitxml="$DEST/pytest-gpu.xml" 2>&1 \
  | tee "$DEST/pytest-gpu.log" || status=1
if grep -q "SKIPPED" "$DEST/pytest-gpu.log"; then
  echo "a gpu test was skipped on a machine with a GPU" | tee -a "$DEST/pytest-gpu.log"
  status=1
fi
# the same branches against fakes: cheap, and they must hold where a real device is present too
"$PY" -m pytest -q -p no:cacheprovider --junitxml="$DEST/pytest-gpu-path.xml" tests/test_gpu_path.py 2>&1 \
  | tee -a "$DEST/pytest-gpu.log" || status=1

# ---------------------------------------------------------------- 3. latency: CUDA vs CPU
SUITE="$DEST/gpu-check-suite.yaml"
cat >"$SUITE" <<EOF
description: GPU check; the quick suite's latency probe on one proxy, on CUDA (bf16 by default) and on the CPU (fp32)
scale: tiny
timeout: 600
variants: [$VARIANT]
probes:
  - probe: latency
    settings: {contexts: [64, 128], budget_s: 0.3}
    grid: {device: [cuda, cpu]}
EOF

# one run measures both devices (the grid): its wall time covers the CUDA and the CPU cells
start_ns=$(date +%s%N)
if ! .venv/bin/archbench run "$VARIANT" --suite "$SUITE" --out "$DEST/latency" --no-report --force \
  >"$DEST/run.log" 2>&1; then
  echo "archbench run failed; see $DEST/run.log"
  status=1
fi
end_ns=$(date +%s%N)
echo "archbench run ($VARIANT, latency, cuda + cpu cells): $(((end_ns - start_ns) / 1000000)) ms wall" \
  | tee "$DEST/timing.txt"

"$PY" - "$DEST" <<'EOF' | tee -a "$DEST/timing.txt" || status=1
import sys
from pathlib import Path

from suite.results import load_results

dest = Path(sys.argv[1])
df = load_results(dest / "latency")
df = df[(df["probe"] == "latency") & ~df["metric"].str.endswith("_cv") & (df["metric"] != "")]
failed = df[df["status"] != "ok"]
if len(failed):
    print("cells that did not end ok:")
    print(failed[["metric", "settings.device", "settings.context", "status", "error"]].to_string(index=False))
ok = df[df["status"] == "ok"]
table = ok.pivot_table(
    index=["metric", "settings.context"], columns="settings.device", values="value", aggfunc="median"
)
if {"cuda", "cpu"} <= set(table.columns):
    table["cpu_over_cuda"] = table["cpu"] / table["cuda"]
table.to_csv(dest / "latency.csv")
dtypes = ok.groupby("settings.device")["settings.dtype"].unique().to_dict()
print("median ms (dtype per device: " + ", ".join(f"{d}={'/'.join(v)}" for d, v in dtypes.items()) + ")")
print(table.to_string(float_format=lambda x: f"{x:.4g}"))
sys.exit(1 if len(failed) or not {"cuda", "cpu"} <= set(table.columns) else 0)
EOF

exit "$status"
