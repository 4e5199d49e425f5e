#!/usr/bin/env bash
# One command from a fresh Debian 12 clone: install what is missing, build native + managed, run the main job: the
# Fashion-MNIST recipe (mlnet-attention fashion-mnist: EPSANet-14 trained through the ML.NET-style pipeline on the
# 60,000 images, 10 epochs, ~19 min on 2 cores, ~93% test accuracy), saved as fashion-mnist.zip. Extra arguments go to
# it, e.g. build/setup.sh --epochs 1 (2 min), or --model seresnet18 --width 0.25 --stem-stride 1.
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
"$root/build/install-deps.sh"
"$root/build/build.sh"
dotnet "$root/src/Cli/bin/Release/net10.0/mlnet-attention.dll" fashion-mnist --out fashion-mnist.zip "$@"
