// Errors, threads, seeds, devices, grad mode.
#include "common.h"
#if defined(__GLIBC__)
#include <malloc.h>
#endif

namespace mlt {
static thread_local std::string g_error;
void set_error(const std::string& message) { g_error = message; }
void clear_error() { g_error.clear(); }
std::vector<at::Tensor> list(mlt_tensor* xs, int n) {
  std::vector<at::Tensor> v;
  v.reserve(static_cast<size_t>(n));
  for (int i = 0; i < n; i++) v.push_back(T(xs[i]));
  return v;
}
}  // namespace mlt

using namespace mlt;

extern "C" {

const char* mlt_last_error(void) { return g_error.c_str(); }

const char* mlt_version(void) { return TORCH_VERSION; }

int mlt_set_num_threads(int n) {
  return guard_int([&] {
    if (n < 1) throw std::invalid_argument("thread count must be >= 1, got " + std::to_string(n));
    at::set_num_threads(n);
  });
}
int mlt_get_num_threads(void) { return at::get_num_threads(); }

int mlt_configure_malloc(int64_t mmap_threshold, int64_t trim_threshold) {
#if defined(__GLIBC__)
  // Both must be set: setting either one disables glibc's dynamic adjustment of the other.
  int a = mallopt(M_MMAP_THRESHOLD, static_cast<int>(mmap_threshold));
  int b = mallopt(M_TRIM_THRESHOLD, static_cast<int>(trim_threshold));
  return (a == 1 && b == 1) ? 1 : 0;
#else
  return 0;
#endif
}

int mlt_manual_seed(uint64_t seed) { return guard_int([&] { torch::manual_seed(seed); }); }

int mlt_cuda_is_available(void) {
  try { return torch::cuda::is_available() ? 1 : 0; } catch (...) { return 0; }
}
int mlt_cuda_device_count(void) {
  try { return static_cast<int>(torch::cuda::device_count()); } catch (...) { return 0; }
}
int mlt_cuda_synchronize(int device_index) {
  return guard_int([&] { torch::cuda::synchronize(device_index); });
}

int mlt_set_grad_enabled(int enabled) {
  bool prev = c10::GradMode::is_enabled();
  c10::GradMode::set_enabled(enabled != 0);
  return prev ? 1 : 0;
}
int mlt_is_grad_enabled(void) { return c10::GradMode::is_enabled() ? 1 : 0; }

void* mlt_inference_mode_enter(void) {
  try { return new c10::InferenceMode(true); } catch (const std::exception& e) { set_error(e.what()); return nullptr; }
}
int mlt_inference_mode_exit(void* guard) {
  return guard_int([&] { delete static_cast<c10::InferenceMode*>(guard); });
}

}  // extern "C"
