#!/usr/bin/env bash
# Side-by-side benchmark: C# (MLNet.Attention.Torch) vs Python PyTorch on the same libtorch.
# Builds TorchBench in Release, runs it and torch_bench.py alternately (interleaved rounds), prints the table and
# writes build/bench/results.md.
#   build/bench/run.sh                      # 6 rounds x (5 warm-up + 20 timed) per allocator setting, ~4 minutes
#   build/bench/run.sh --rounds 3 --iters 10 --configs pinned
# Options are those of compare.py (--rounds --iters --warmup --batch --threads --configs --quiet --max-noise
# --budget); `python3 build/bench/compare.py --report-only` re-renders results.md from the last run's JSON.
set -euo pipefail
here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
repo="$(cd "$here/../.." && pwd)"
python="${PYTHON:-/usr/bin/python3}"   # the Debian python3-torch, the same libtorch build as native/

[ -f "$repo/native/build/libmlnet_torch.so" ] || { echo "native/build/libmlnet_torch.so is missing: build native/ first (cmake --build native/build -j2)" >&2; exit 1; }
"$python" -c "import torch" 2>/dev/null || { echo "$python cannot import torch (needs Debian python3-torch)" >&2; exit 1; }

# Own output folder (artifacts/): the build does not touch src/Torch/bin|obj, which others may be building.
for attempt in 1 2 3 4 5; do
  if log=$(dotnet build "$here/TorchBench/TorchBench.csproj" -c Release --artifacts-path "$here/artifacts" -nologo -v q 2>&1); then
    break
  fi
  if grep -qiE "being used by another process|file.?lock|cannot access the file" <<<"$log" && [ $attempt -lt 5 ]; then
    echo "build blocked by a file lock, retrying in 20 s" >&2; sleep 20
  else
    echo "$log" >&2; exit 1
  fi
done

echo "C#: $("$here/artifacts/bin/TorchBench/release/TorchBench" --help | head -1)"
exec "$python" "$here/compare.py" "$@"
