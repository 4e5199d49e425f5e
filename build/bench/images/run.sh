#!/usr/bin/env bash
# Image pipeline benchmark: decode + resize + normalize throughput of MLNet.Attention.Transforms (ImageBatchLoader)
# side by side with torchvision/Pillow in one Python process, on the same files, and the RSS of streaming 60,000
# Fashion-MNIST PNG files. Writes build/bench/images/results.md.
#   build/bench/images/run.sh                 # 3 interleaved rounds, ~3 minutes (first run also writes the images)
#   build/bench/images/run.sh --rounds 5 --rss-images 60000
# Options are those of compare.py.
set -euo pipefail
here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
repo="$(cd "$here/../../.." && pwd)"
python="${PYTHON:-/usr/bin/python3}"   # Debian python3-torch, python3-torchvision, python3-pil

[ -f "$repo/native/build/libmlnet_torch.so" ] || { echo "native/build/libmlnet_torch.so is missing: build native/ first (cmake --build native/build -j2)" >&2; exit 1; }
"$python" -c "import torchvision, PIL" 2>/dev/null || { echo "$python cannot import torchvision and PIL (apt-get install python3-torchvision python3-pil)" >&2; exit 1; }

# Own output folder (artifacts/): the build does not touch src/*/bin|obj, which others may be building.
for attempt in 1 2 3 4 5; do
  if log=$(dotnet build "$here/ImageBench/ImageBench.csproj" -c Release --artifacts-path "$here/artifacts" -nologo -v q 2>&1); then
    break
  fi
  if grep -qiE "being used by another process|file.?lock|cannot access the file" <<<"$log" && [ $attempt -lt 5 ]; then
    echo "build blocked by a file lock, retrying in 20 s" >&2; sleep 20
  else
    echo "$log" >&2; exit 1
  fi
done

[ -d "$here/data/mixed/photo_png" ] || "$python" "$here/make_bench_images.py" "$here/data/mixed"
exec "$python" "$here/compare.py" --bench "$here/artifacts/bin/ImageBench/release/ImageBench" --folder "$here/data/mixed" \
  --rss-folder "$here/data/fmnist-png" --out "$here/results.md" "$@"
