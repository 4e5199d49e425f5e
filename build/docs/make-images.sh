#!/bin/bash
# Writes the README's pictures (docs/images/*.png, charts also as .svg) from real runs: small attention backbones
# trained for a few epochs on a Fashion-MNIST subset, their curves, confusion matrix, leaderboard, Grad-CAMs and
# attention maps. Trained models are cached in $WORK (default /tmp/mlnet-docimages), so re-running only redraws.
# Usage: build/docs/make-images.sh [--train-limit 12000] [--test-limit 2000] [--epochs 3] [--threads 2] [--only seresnet18,...]
set -euo pipefail
cd "$(dirname "$0")/../.."
dotnet build build/docs/DocImages/DocImages.csproj -c Release -nologo -v q -clp:ErrorsOnly
dotnet build/docs/DocImages/bin/Release/net10.0/DocImages.dll --out docs/images --work "${WORK:-/tmp/mlnet-docimages}" "$@"
