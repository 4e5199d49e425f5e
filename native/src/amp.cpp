// Automatic mixed precision: autocast scopes (torch.autocast) and the grad scaler's unscale-and-check.
//
// The autocast API of libtorch changed in 2.4: 1.13 .. 2.3 have per-device-kind functions
// (set_enabled / set_cpu_enabled, set_autocast_gpu_dtype / set_autocast_cpu_dtype, ...); 2.4 replaced them by
// set_autocast_enabled(device_type, bool) and set_autocast_dtype(device_type, dtype) and deprecated the old ones.
// The version macros of <torch/version.h> pick one at compile time, so the same source builds against both.
#include <ATen/autocast_mode.h>
#include <torch/version.h>
#include "common.h"

#if TORCH_VERSION_MAJOR > 2 || (TORCH_VERSION_MAJOR == 2 && TORCH_VERSION_MINOR >= 4)
#define MLT_AUTOCAST_DEVICE_API 1
#endif

using namespace mlt;

namespace {

// What an enter changed, restored by the matching exit (torch.autocast.__exit__).
struct AutocastScope {
  at::DeviceType device;
  bool previous_enabled;
  at::ScalarType previous_dtype;
  bool previous_cache_enabled;
};

at::DeviceType autocast_device(int device_type) {
  auto d = static_cast<at::DeviceType>(device_type);
  if (d != at::kCPU && d != at::kCUDA)
    throw std::invalid_argument("autocast takes the device type cpu (0) or cuda (1), got " + std::to_string(device_type));
  return d;
}

bool autocast_enabled(at::DeviceType d) {
#ifdef MLT_AUTOCAST_DEVICE_API
  return at::autocast::is_autocast_enabled(d);
#else
  return d == at::kCPU ? at::autocast::is_cpu_enabled() : at::autocast::is_enabled();
#endif
}

void set_autocast_enabled(at::DeviceType d, bool enabled) {
#ifdef MLT_AUTOCAST_DEVICE_API
  at::autocast::set_autocast_enabled(d, enabled);
#else
  if (d == at::kCPU)
    at::autocast::set_cpu_enabled(enabled);
  else
    at::autocast::set_enabled(enabled);
#endif
}

at::ScalarType autocast_dtype(at::DeviceType d) {
#ifdef MLT_AUTOCAST_DEVICE_API
  return at::autocast::get_autocast_dtype(d);
#else
  return d == at::kCPU ? at::autocast::get_autocast_cpu_dtype() : at::autocast::get_autocast_gpu_dtype();
#endif
}

void set_autocast_dtype(at::DeviceType d, at::ScalarType dtype) {
#ifdef MLT_AUTOCAST_DEVICE_API
  at::autocast::set_autocast_dtype(d, dtype);
#else
  if (d == at::kCPU)
    at::autocast::set_autocast_cpu_dtype(dtype);
  else
    at::autocast::set_autocast_gpu_dtype(dtype);
#endif
}

void check_autocast_dtype(at::DeviceType d, at::ScalarType dtype) {
  if (dtype != at::kBFloat16 && dtype != at::kHalf)
    throw std::invalid_argument(std::string("autocast runs in bfloat16 or float16, got ") + c10::toString(dtype));
#ifndef MLT_AUTOCAST_DEVICE_API
  // libtorch before 2.4 autocasts the CPU to bfloat16 only (torch.autocast("cpu", torch.float16) disables itself there).
  if (d == at::kCPU && dtype == at::kHalf)
    throw std::invalid_argument(std::string("CPU autocast supports bfloat16 only in libtorch ") + TORCH_VERSION +
                                " (float16 on the CPU needs libtorch 2.4 or later); use bfloat16, or float16 on a CUDA device");
#endif
}

}  // namespace

extern "C" {

void* mlt_autocast_enter(int device_type, int dtype, int enabled, int cache_enabled) {
  try {
    auto d = autocast_device(device_type);
    auto st = static_cast<at::ScalarType>(dtype);
    if (enabled) check_autocast_dtype(d, st);
    auto* scope = new AutocastScope{d, autocast_enabled(d), autocast_dtype(d), at::autocast::is_autocast_cache_enabled()};
    // torch.autocast.__enter__: dtype, then the flag, then the nesting level and the cache switch.
    if (enabled) set_autocast_dtype(d, st);
    set_autocast_enabled(d, enabled != 0);
    at::autocast::increment_nesting();
    at::autocast::set_autocast_cache_enabled(cache_enabled != 0);
    return scope;
  } catch (const c10::Error& e) {
    set_error(e.what_without_backtrace());
  } catch (const std::exception& e) {
    set_error(e.what());
  }
  return nullptr;
}

int mlt_autocast_exit(void* handle) {
  return guard_int([&] {
    if (handle == nullptr) throw std::invalid_argument("null autocast scope");
    std::unique_ptr<AutocastScope> scope(static_cast<AutocastScope*>(handle));
    // torch.autocast.__exit__: the cast cache lives as long as the outermost scope.
    if (at::autocast::decrement_nesting() == 0) at::autocast::clear_cache();
    set_autocast_enabled(scope->device, scope->previous_enabled);
    set_autocast_dtype(scope->device, scope->previous_dtype);
    at::autocast::set_autocast_cache_enabled(scope->previous_cache_enabled);
  });
}

int mlt_autocast_is_enabled(int device_type) {
  try {
    return autocast_enabled(autocast_device(device_type)) ? 1 : 0;
  } catch (const std::exception& e) {
    set_error(e.what());
    return -1;
  }
}

int mlt_autocast_dtype(int device_type) {
  try {
    return static_cast<int>(autocast_dtype(autocast_device(device_type)));
  } catch (const std::exception& e) {
    set_error(e.what());
    return -1;
  }
}

int mlt_get_allow_tf32(void) {
  auto& ctx = at::globalContext();
  return (ctx.allowTF32CuDNN() ? 1 : 0) | (ctx.allowTF32CuBLAS() ? 2 : 0);
}

int mlt_set_allow_tf32(int cudnn, int cublas) {
  return guard_int([&] {
    auto& ctx = at::globalContext();
    if (cudnn >= 0) ctx.setAllowTF32CuDNN(cudnn != 0);
    if (cublas >= 0) ctx.setAllowTF32CuBLAS(cublas != 0);
  });
}

int mlt_amp_unscale_(mlt_tensor* grads, int n, mlt_tensor found_inf, mlt_tensor inv_scale, int allow_fused) {
  return guard_int([&] {
    at::NoGradGuard no_grad;
    auto& found = T(found_inf);
    auto& inv = T(inv_scale);
    if (found.numel() != 1 || found.scalar_type() != at::kFloat || inv.numel() != 1 || inv.scalar_type() != at::kFloat)
      throw std::invalid_argument("found_inf and inv_scale must be one-element float32 tensors");
    auto gs = list(grads, n);
    for (const auto& g : gs) {
      if (!g.defined()) throw std::invalid_argument("undefined gradient");
      if (g.device() != found.device() || g.device() != inv.device())
        throw std::invalid_argument("gradients, found_inf and inv_scale must be on one device (a gradient is on " +
                                    g.device().str() + ", found_inf on " + found.device().str() + ")");
      if (!at::isFloatingType(g.scalar_type()) || g.is_sparse())
        throw std::invalid_argument(std::string("gradients must be dense floating-point tensors, got ") + c10::toString(g.scalar_type()));
    }
    if (gs.empty()) return;
    if (allow_fused && found.is_cuda()) {
      // The fused CUDA kernel of torch.cuda.amp.GradScaler (one launch per chunk of tensors).
      at::_amp_foreach_non_finite_check_and_unscale_(gs, found, inv);
      return;
    }
    // The same result from plain ops on any device: a gradient is checked before it is scaled (as the fused kernel
    // does), found_inf becomes 1 when any element of any gradient is NaN or infinite, and every gradient is
    // multiplied by inv_scale regardless.
    at::Tensor all_finite;
    for (auto& g : gs) {
      auto finite = at::isfinite(g).all();
      all_finite = all_finite.defined() ? all_finite.logical_and(finite) : finite;
      g.mul_(inv);
    }
    found.masked_fill_(all_finite.logical_not(), 1.0);
  });
}

}  // extern "C"
