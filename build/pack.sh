#!/usr/bin/env bash
# Writes the NuGet packages to artifacts/packages/ (or the folder given as $1):
#   MLNet.Attention (the one users install) and its dependencies MLNet.Attention.Trainers, .Transforms, .Backbones and
#   .Torch (which carries runtimes/linux-x64/native/libmlnet_torch.so), with .snupkg symbol packages, and the dotnet tool
#   mlnet-attention (src/Cli). Builds the native library first when native/build has none (as build/build.sh does).
# Prints one line per package with its size. The packages link against the system libtorch (see build/nuget/README.md).
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
out=$(mkdir -p "${1:-$root/artifacts/packages}" && cd "${1:-$root/artifacts/packages}" && pwd)
native="$root/native/build/libmlnet_torch.so"
if [[ ! -f "$native" ]]; then
  cmake -S "$root/native" -B "$root/native/build" -DCMAKE_BUILD_TYPE=Release ${LIBTORCH_DIR:+-DLIBTORCH_DIR="$LIBTORCH_DIR"} >/dev/null
  cmake --build "$root/native/build" -j"$(nproc)" >/dev/null
fi

ids=(MLNet.Attention MLNet.Attention.Trainers MLNet.Attention.Transforms MLNet.Attention.Backbones MLNet.Attention.Torch mlnet-attention)
version=$(sed -n 's:.*<Version>\(.*\)</Version>.*:\1:p' "$root/Directory.Build.props" | head -1)
# No stale package of an earlier build may stay beside the new ones (a consumer would restore it).
for id in "${ids[@]}"; do rm -f "$out/$id.$version.nupkg" "$out/$id.$version.snupkg"; done

# The solution's packable projects: src/* (tests and samples set IsPackable=false).
dotnet pack "$root/MLNet.Attention.sln" -c "${CONFIGURATION:-Release}" -nologo -v quiet -clp:ErrorsOnly -p:PackageOutputPath="$out/"

status=0
for id in "${ids[@]}"; do
  [[ -f "$out/$id.$version.nupkg" ]] || { echo "error: $out/$id.$version.nupkg was not written" >&2; status=1; }
done
for f in "$out"/*."$version".nupkg; do
  [[ -f "$f" ]] && printf '%-44s %8.1f KiB\n' "$(basename "$f")" "$(awk -v b="$(stat -c %s "$f")" 'BEGIN { print b / 1024 }')"
done
# The native library must be inside: the library package in the NuGet runtimes layout, the tool next to its app.
# (A zip's directory stores entry names as plain bytes, so grep finds them without unzip.)
has() { [[ -f "$1" ]] && LC_ALL=C grep -aqF "$2" "$1"; }
has "$out/MLNet.Attention.Torch.$version.nupkg" 'runtimes/linux-x64/native/libmlnet_torch.so' ||
  { echo "error: MLNet.Attention.Torch.$version.nupkg has no runtimes/linux-x64/native/libmlnet_torch.so" >&2; status=1; }
has "$out/mlnet-attention.$version.nupkg" 'tools/net10.0/any/libmlnet_torch.so' ||
  { echo "error: mlnet-attention.$version.nupkg has no tools/net10.0/any/libmlnet_torch.so" >&2; status=1; }
[[ $status == 0 ]] && echo "packages in $out"
exit $status
