#!/usr/bin/env bash
# Registry backbones, C# vs PyTorch on the same libtorch (issue 3's benchmark). Builds BackboneBench in Release
# (into ./artifacts, not touching src/*/bin|obj), then compare_backbones.py checks that both sides build the same
# networks, measures them interleaved and writes results.md.
#   build/bench/backbones/run.sh                         # 3 rounds x (1 warm-up + 3 timed), ~20 minutes on 2 cores
#   build/bench/backbones/run.sh --rounds 1 --models resnet18,epsanet50 --no-layers
#   python3 build/bench/backbones/compare_backbones.py --report-only   # re-render results.md from artifacts/raw
set -euo pipefail
here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
repo="$(cd "$here/../../.." && pwd)"
python="${PYTHON:-/usr/bin/python3}"   # Debian python3-torch / python3-torchvision: the libtorch native/ binds

[ -f "$repo/native/build/libmlnet_torch.so" ] || { echo "native/build/libmlnet_torch.so is missing: build native/ first" >&2; exit 1; }
"$python" -c "import torch, torchvision" 2>/dev/null || { echo "$python cannot import torch and torchvision (Debian python3-torch, python3-torchvision)" >&2; exit 1; }

for attempt in 1 2 3 4 5; do
  if log=$(dotnet build "$here/BackboneBench/BackboneBench.csproj" -c Release --artifacts-path "$here/artifacts" -nologo -v q 2>&1); then
    break
  fi
  if grep -qiE "being used by another process|file.?lock|cannot access the file" <<<"$log" && [ $attempt -lt 5 ]; then
    echo "build blocked by a file lock, retrying in 20 s" >&2; sleep 20
  else
    echo "$log" >&2; exit 1
  fi
done
PYTHON="$python" exec "$python" "$here/compare_backbones.py" "$@"
