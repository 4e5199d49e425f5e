#!/usr/bin/env bash
# Issue 6's checks on a machine with an NVIDIA GPU. Needs there: python3 with a CUDA build of torch (pip wheel), cmake,
# g++ (and the CUDA toolkit that the wheel's CMake config looks for; without it the library is linked by hand). It does
# NOT need the .NET SDK: run build/gpu/publish.sh first on a machine that has one and bring artifacts/gpu along.
#
#   build/gpu/publish.sh                   # on the .NET machine: artifacts/gpu/runner + artifacts/gpu/include/stb
#   build/gpu/run-on-gpu.sh [--quick] [--only parity,bench,pipeline]   # on the GPU machine, from the repository root
#
# Steps: 1. environment (GPU, driver, torch, CUDA, cuDNN); 2. native/ built against the wheel's libtorch
# (LIBTORCH_DIR = the torch package folder, i.e. torch.utils.cmake_prefix_path/../..) into native/build-cuda, then the
# runner's info and amp checks (autocast dtypes, GradScaler's fused CUDA kernel vs plain ops);
# 3. the runner's parity (every backbone, GPU float32 vs CPU float32, 1e-3); 4. bench (SE-ResNet-50 and EPSANet-50,
# 224x224, batch 64, fp32 and bf16, train step and inference, NCHW and channels-last) beside torch_bench.py, as ratios;
# 5. pipeline (Fit on an image folder, save the .zip, reload on the CPU, same probabilities within 1e-4) in float32,
# bf16 and fp16 (GradScaler) training. Results: build/gpu/results/*.md (+ .json, .log); RESULTS_DIR changes the folder.
# --quick: a subset (three parity models, NCHW bench only, float32 pipeline) for a short lease. --only runs some of
# steps 3-5 (steps 1-2 always run; the native build is skipped when native/build-cuda is newer than native/), so a
# lease with a per-command time limit can take them in separate calls.
set -uo pipefail
root=$(cd "$(dirname "$0")/../.." && pwd)
cd "$root"
quick=0
only="parity,bench,pipeline"
while [ $# -gt 0 ]; do
  case "$1" in
    --quick) quick=1 ;;
    --only) only="$2"; shift ;;
    *) echo "usage: $0 [--quick] [--only parity,bench,pipeline]"; exit 2 ;;
  esac
  shift
done
want() { [[ ",$only," == *",$1,"* ]]; }
py=${PYTHON:-python3}
device=${DEVICE:-cuda:0}
results=${RESULTS_DIR:-$root/build/gpu/results}
runner=${RUNNER:-$root/artifacts/gpu/runner/mlnet-attention-gpu}
build=$root/native/build-cuda
mkdir -p "$results"
status=0
note() { echo "== $*"; }
fail() { echo "FAILED: $*"; status=1; }

# ---- 1. environment ---------------------------------------------------------------------------------------------
note "environment"
{
  echo "# Environment"
  echo
  echo '```text'
  nvidia-smi --query-gpu=name,driver_version,memory.total,clocks.max.sm --format=csv 2>&1 || true
  $py -c 'import torch, platform; print("torch", torch.__version__, "| CUDA", torch.version.cuda, "| cuDNN", torch.backends.cudnn.version(), "| python", platform.python_version()); print("device", torch.cuda.get_device_name(0), "| capability", torch.cuda.get_device_capability(0), "| bf16", torch.cuda.is_bf16_supported())' 2>&1
  echo "cmake: $(cmake --version 2>&1 | head -1); g++: $(g++ --version 2>&1 | head -1); nvcc: $(nvcc --version 2>&1 | tail -1)"
  echo "CPU: $(nproc) cores, $(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2-)"
  echo '```'
} > "$results/environment.md"
cat "$results/environment.md"
[ -x "$runner" ] || { echo "no runner at $runner: run build/gpu/publish.sh on a machine with the .NET SDK and bring artifacts/gpu"; exit 2; }

# ---- 2. native/ against the wheel's libtorch --------------------------------------------------------------------
note "building native/ against the pip torch's libtorch"
LIBTORCH_DIR=$($py -c 'import os, torch; print(os.path.dirname(torch.__file__))')
export LIBTORCH_DIR
echo "LIBTORCH_DIR=$LIBTORCH_DIR (cmake prefix $($py -c 'import torch; print(torch.utils.cmake_prefix_path)'))"
extra=""
[ -f /usr/include/stb/stb_image.h ] || extra="-I$root/artifacts/gpu/include"
if [ -f "$build/libmlnet_torch.so" ] && [ -z "$(find native/src native/include native/CMakeLists.txt -newer "$build/libmlnet_torch.so")" ]; then
  echo "native/build-cuda is up to date"
else
rm -rf "$build"
if cmake -S native -B "$build" -DCMAKE_BUILD_TYPE=Release -DLIBTORCH_DIR="$LIBTORCH_DIR" -DCMAKE_CXX_FLAGS="$extra" > "$results/native-build.log" 2>&1 \
   && cmake --build "$build" -j"$(nproc)" >> "$results/native-build.log" 2>&1; then
  echo "built with CMake (find_package(Torch))"
else
  # The wheel's TorchConfig needs the CUDA toolkit; without it, compile and link by hand: the same sources, the wheel's
  # headers, its C++ ABI, and libtorch_cuda linked with --no-as-needed so its kernels register.
  echo "CMake build failed (see native-build.log); linking by hand"
  abi=$($py -c 'import torch; print(int(torch._C._GLIBCXX_USE_CXX11_ABI))')
  mkdir -p "$build"
  T=$LIBTORCH_DIR
  g++ -std=c++17 -O2 -fPIC -shared -fvisibility=hidden -Wall -Wno-unused-parameter -D_GLIBCXX_USE_CXX11_ABI="$abi" $extra \
      -Inative/include -I"$T/include" -I"$T/include/torch/csrc/api/include" native/src/*.cpp \
      -L"$T/lib" -Wl,--no-as-needed -ltorch_cuda -lc10_cuda -Wl,--as-needed -ltorch -ltorch_cpu -lc10 \
      -Wl,-rpath,"$T/lib" -o "$build/libmlnet_torch.so" >> "$results/native-build.log" 2>&1 || { tail -30 "$results/native-build.log"; exit 2; }
fi
fi
ldd "$build/libmlnet_torch.so" | grep -q torch_cuda || fail "libmlnet_torch.so does not link libtorch_cuda (a CPU libtorch?)"
export MLNET_ATTENTION_NATIVE="$build/libmlnet_torch.so"
export LD_LIBRARY_PATH="$build:$LIBTORCH_DIR/lib:${LD_LIBRARY_PATH:-}"
"$runner" info 2>&1 | tee "$results/info.log"
grep -q "CUDA available: True" "$results/info.log" || { fail "the runner sees no GPU"; exit 1; }
# Mixed precision on the GPU: autocast dtypes (bf16, fp16), GradScaler's fused CUDA unscale kernel against the plain path.
"$runner" amp --device "$device" 2>&1 | tee "$results/amp.log"
[ "${PIPESTATUS[0]}" = 0 ] || fail "amp"

# ---- 3. parity --------------------------------------------------------------------------------------------------
if want parity; then
note "parity (GPU float32 vs CPU float32)"
models=all
[ $quick = 1 ] && models=seresnet50,epsanet50,botnet50
"$runner" parity --device "$device" --models "$models" --bf16 --json "$results/parity.json" --markdown "$results/parity.md" 2>&1 | tee "$results/parity.log"
[ "${PIPESTATUS[0]}" = 0 ] || fail "parity (training mode)"
# The same in evaluation mode (batch norm with running statistics): separates training-mode batch-norm conditioning
# (on the CPU, float32 vs float64 gradients of resnet18 at width 0.25 differed by 1.2e-3 with 8 images of 64 px in
# training mode, 1e-6 in evaluation mode) from the rest of the network.
"$runner" parity --device "$device" --models "$models" --eval --json "$results/parity-eval.json" --markdown "$results/parity-eval.md" 2>&1 | tee "$results/parity-eval.log"
[ "${PIPESTATUS[0]}" = 0 ] || fail "parity (evaluation mode)"
fi

# ---- 4. throughput beside PyTorch -------------------------------------------------------------------------------
if want bench; then
note "bench (224x224, batch 64)"
formats="nchw channels-last"
[ $quick = 1 ] && formats=nchw
: > "$results/bench.md"
for fmt in $formats; do
  flag=""
  [ "$fmt" = channels-last ] && flag=--channels-last
  # Interleaved: PyTorch, MLNet.Attention, PyTorch again; the report takes the second PyTorch run (warm GPU clocks) and
  # the log keeps both.
  $py build/gpu/torch_bench.py --device "$device" $flag --json "$results/bench-pytorch-$fmt-1.json" 2>&1 | tee -a "$results/bench.log"
  "$runner" bench --device "$device" $flag --json "$results/bench-mlnet-$fmt.json" 2>&1 | tee -a "$results/bench.log"
  $py build/gpu/torch_bench.py --device "$device" $flag --json "$results/bench-pytorch-$fmt.json" 2>&1 | tee -a "$results/bench.log"
  $py build/gpu/report.py --mlnet "$results/bench-mlnet-$fmt.json" --pytorch "$results/bench-pytorch-$fmt.json" \
      --title "Throughput ($fmt): MLNet.Attention vs PyTorch eager, same GPU" >> "$results/bench.md" || fail "bench ratios below 0.95 ($fmt)"
  echo >> "$results/bench.md"
  # The same with PyTorch's SGD per parameter (foreach off), as the C# optimizer steps: separates the optimizer from the rest.
  if [ $quick = 0 ]; then
    $py build/gpu/torch_bench.py --device "$device" $flag --modes train --foreach off --json "$results/bench-pytorch-$fmt-foreach-off.json" 2>&1 | tee -a "$results/bench.log"
    $py build/gpu/report.py --mlnet "$results/bench-mlnet-$fmt.json" --pytorch "$results/bench-pytorch-$fmt-foreach-off.json" \
        --title "Train step ($fmt) against PyTorch with SGD(foreach=False)" >> "$results/bench.md" || true
    echo >> "$results/bench.md"
  fi
done
cat "$results/bench.md"
fi

# ---- 5. pipeline ------------------------------------------------------------------------------------------------
if want pipeline; then
note "pipeline (Fit, save, reload on the CPU)"
precisions="fp32 bf16 fp16"
[ $quick = 1 ] && precisions=fp32
{ echo "# Pipeline: Fit on an image folder on $device, save the .zip, reload and score on the CPU"; echo; } > "$results/pipeline.md"
for p in $precisions; do
  "$runner" pipeline --device "$device" --mixed-precision "$p" --work "/tmp/mlnet-gpu-pipeline-$p" --json "$results/pipeline-$p.json" \
      > "$results/pipeline-$p.log" 2>&1
  rc=$?
  cat "$results/pipeline-$p.log"
  { echo "## training in $p"; echo; echo '```text'; cat "$results/pipeline-$p.log"; echo '```'; echo; } >> "$results/pipeline.md"
  [ $rc = 0 ] || fail "pipeline $p"
done
fi

note "results in $results"
ls -la "$results"
[ $status = 0 ] && echo "all GPU checks passed" || echo "some GPU checks FAILED (see above)"
exit $status
