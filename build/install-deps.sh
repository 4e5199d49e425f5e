#!/usr/bin/env bash
# Installs what MLNet.Attention needs on Debian 12, only where something is missing:
#   libtorch-dev (libtorch 1.13 CPU), libopenblas0-pthread (fast BLAS behind libtorch's matmul/linear),
#   libstb-dev (image decoding), dataset-fashion-mnist (the embedded default data), cmake/g++,
#   and the .NET 10 SDK check. Python torch/torchvision are only for regenerating fixtures and benchmarks:
#   pass --with-reference to install them too.
set -euo pipefail
pkgs=(libtorch-dev libopenblas0-pthread libstb-dev dataset-fashion-mnist cmake g++ make)
if [[ "${1:-}" == "--with-reference" ]]; then pkgs+=(python3-torch python3-torchvision python3-pil); fi
missing=()
for p in "${pkgs[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done
if ((${#missing[@]})); then
  echo "installing: ${missing[*]}"
  SUDO=""; [[ $(id -u) -ne 0 ]] && SUDO="sudo"
  $SUDO apt-get update -qq
  DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
fi
# libtorch must call OpenBLAS, not the reference BLAS (~30x slower matmul).
blas=$(readlink -f /usr/lib/x86_64-linux-gnu/libblas.so.3 || true)
case "$blas" in
  *openblas*) ;;
  *) echo "warning: libblas.so.3 resolves to $blas, not OpenBLAS; run: update-alternatives --config libblas.so.3-x86_64-linux-gnu" >&2 ;;
esac
if ! command -v dotnet >/dev/null || ! dotnet --list-sdks | grep -q '^10\.'; then
  echo "error: the .NET 10 SDK is required (dotnet --list-sdks shows none); install it from Microsoft's packages" >&2
  exit 1
fi
