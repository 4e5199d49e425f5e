#!/usr/bin/env bash
# C# vs PyTorch, the recipe's training step alone (loop.cs / loop.py), alternated ROUNDS times (default 3).
set -euo pipefail
cd "$(dirname "$0")"
dotnet build loop.cs -v q -nologo -clp:ErrorsOnly >/dev/null
for _ in $(seq "${1:-3}"); do
  dotnet run loop.cs --no-build | tail -2
  /usr/bin/python3 loop.py vary_sched 2>&1 | grep -v Warning | tail -2
done
