#!/usr/bin/env bash
# Builds the native library (CMake; LIBTORCH_DIR selects another libtorch, e.g. a CUDA one) and the solution.
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
config=${CONFIGURATION:-Release}
cmake -S "$root/native" -B "$root/native/build" -DCMAKE_BUILD_TYPE=Release ${LIBTORCH_DIR:+-DLIBTORCH_DIR="$LIBTORCH_DIR"} >/dev/null
cmake --build "$root/native/build" -j"$(nproc)"
dotnet build "$root/MLNet.Attention.sln" -c "$config" -nologo -v quiet -clp:ErrorsOnly
