#!/usr/bin/env bash
# Issue 5's measured runs: the small-image EPSANet and SE-ResNet on all of Fashion-MNIST, one epoch and the README's
# recipe, in C# (mlnet-attention fashion-mnist) and in PyTorch (recipe.py, the same models and recipe).
# Results: build/fashion-mnist/results/<name>.json and .log; summary: build/fashion-mnist/results.md (summarize.py).
# usage: build/fashion-mnist/run.sh [csharp|pytorch|all] [epochs (default 10)]
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
root=$(cd "$here/../.." && pwd)
which=${1:-all}
epochs=${2:-10}
out="$here/results"
mkdir -p "$out"
cli="${MLNET_ATTENTION_CLI:-$root/src/Cli/bin/Release/net10.0/mlnet-attention.dll}"
[ -f "$cli" ] || "$root/build/build.sh"
# name | model args (shared by both frameworks)
runs=(
  "epsanet14_w0.5_s2|--model epsanet14 --width 0.5 --stem-stride 2"
  "seresnet18_w0.25_s1|--model seresnet18 --width 0.25 --stem-stride 1"
)
run() {  # framework name epochs args...
  local fw=$1 name=$2 ep=$3; shift 3
  local tag="${fw}_${name}_e${ep}"
  [ -f "$out/$tag.json" ] && { echo "have $tag"; return; }
  echo "== $tag ($(date -u +%H:%M:%S), load $(cut -d' ' -f1-3 /proc/loadavg))"
  if [ "$fw" = csharp ]; then
    dotnet "$cli" fashion-mnist "$@" --epochs "$ep" --json "$out/$tag.json" 2>&1 | tee "$out/$tag.log"
  else
    /usr/bin/python3 "$here/recipe.py" "$@" --epochs "$ep" --json "$out/$tag.json" 2>&1 | grep -v Warning | tee "$out/$tag.log"
  fi
}
for fw in csharp pytorch; do
  [ "$which" = all ] || [ "$which" = "$fw" ] || continue
  for r in "${runs[@]}"; do
    name=${r%%|*}; args=${r#*|}
    # shellcheck disable=SC2086
    [ "$fw" = csharp ] && run "$fw" "$name" 1 $args
    # shellcheck disable=SC2086
    run "$fw" "$name" "$epochs" $args
  done
done
