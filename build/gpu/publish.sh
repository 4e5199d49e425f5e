#!/usr/bin/env bash
# Publishes the GPU verification runner (build/gpu/Runner) self-contained and trimmed for linux-x64, so it runs on a
# machine without the .NET SDK: artifacts/gpu/runner/mlnet-attention-gpu. Also copies what run-on-gpu.sh needs to build
# native/ there and cannot count on finding: stb_image.h (Debian's libstb-dev here) into artifacts/gpu/include/stb/.
#
#   build/gpu/publish.sh            # then: artifacts/gpu/runner/mlnet-attention-gpu parity --device cpu ...
#
# The libmlnet_torch.so published next to the runner is the one built here (against this machine's libtorch);
# run-on-gpu.sh builds the CUDA one and puts it first on the loader path.
set -euo pipefail
root=$(cd "$(dirname "$0")/../.." && pwd)
out="$root/artifacts/gpu"
rm -rf "$out/runner.tmp"
mkdir -p "$out"
# PublishTrimmed=true turns the trim analyzer on in every referenced project. ModelRegistry's reflection is annotated
# (DynamicDependency); the reflection-based System.Text.Json of the checkpoints and the model package still warns (IL2026)
# and is safe here because Runner.csproj roots those assemblies and re-enables reflection JSON, so the warnings are
# listed, not fatal (the repository builds with TreatWarningsAsErrors).
log=$(mktemp)
if ! dotnet publish "$root/build/gpu/Runner/Runner.csproj" -c Release -r linux-x64 --self-contained -p:PublishTrimmed=true \
  -p:TreatWarningsAsErrors=false -nologo -v q -o "$out/runner.tmp" > "$log" 2>&1; then
  cat "$log"; rm -f "$log"; exit 1
fi
warnings=$(grep -oE "warning IL[0-9]+:[^[]*" "$log" | sort -u || true)
if [ -n "$warnings" ]; then
  echo "trim analysis warnings (reflection the runner keeps working by rooting the MLNet.Attention assemblies):"
  echo "$warnings" | sed 's/^/  /'
fi
rm -f "$log"
rm -rf "$out/runner"
mv "$out/runner.tmp" "$out/runner"
# Debug symbols and XML docs are not needed on the GPU machine.
find "$out/runner" \( -name '*.pdb' -o -name '*.xml' -o -name '*.dbg' \) -delete
mkdir -p "$out/include/stb"
for h in stb_image.h; do
  if [ -f "/usr/include/stb/$h" ]; then cp "/usr/include/stb/$h" "$out/include/stb/$h"; fi
done
echo "published $(du -sh "$out/runner" | cut -f1) to $out/runner ($(ls "$out/runner" | wc -l) files)"
