#!/usr/bin/env bash
# One command from a fresh Debian 12 clone: install what is missing, build native + managed, run the main job
# (the Fashion-MNIST demo). Extra arguments go to the demo, e.g. build/setup.sh --epochs 1.
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
"$root/build/install-deps.sh"
"$root/build/build.sh"
dotnet "$root/src/Cli/bin/Release/net10.0/mlnet-attention.dll" demo "$@"
