// Shared helpers for the C ABI: the error slot and the try/catch wrapper that keeps every
// C++ exception on this side of the boundary.
#pragma once
#include <torch/torch.h>
#include <string>
#include <vector>
#include "mlnet_torch.h"

namespace mlt {

void set_error(const std::string& message);
void clear_error();

inline at::Tensor& T(mlt_tensor h) {
  if (h == nullptr) throw std::invalid_argument("null tensor handle");
  return *static_cast<at::Tensor*>(h);
}
inline c10::optional<at::Tensor> opt(mlt_tensor h) {
  if (h == nullptr) return c10::nullopt;
  return *static_cast<at::Tensor*>(h);
}
inline at::Tensor optT(mlt_tensor h) { return h == nullptr ? at::Tensor() : *static_cast<at::Tensor*>(h); }
inline mlt_tensor wrap(at::Tensor t) { return new at::Tensor(std::move(t)); }
inline at::IntArrayRef dims(const int64_t* p, int n) { return at::IntArrayRef(p, static_cast<size_t>(n)); }
inline at::TensorOptions options(int dtype, int device_type, int device_index) {
  return at::TensorOptions()
      .dtype(static_cast<at::ScalarType>(dtype))
      .device(at::Device(static_cast<at::DeviceType>(device_type), static_cast<c10::DeviceIndex>(device_index)));
}
std::vector<at::Tensor> list(mlt_tensor* xs, int n);

template <typename F>
mlt_tensor guard_tensor(F&& f) {
  try {
    return wrap(f());
  } catch (const c10::Error& e) {
    set_error(e.what_without_backtrace());
  } catch (const std::exception& e) {
    set_error(e.what());
  } catch (...) {
    set_error("unknown native error");
  }
  return nullptr;
}

template <typename F>
int guard_int(F&& f) {
  try {
    f();
    return 0;
  } catch (const c10::Error& e) {
    set_error(e.what_without_backtrace());
  } catch (const std::exception& e) {
    set_error(e.what());
  } catch (...) {
    set_error("unknown native error");
  }
  return -1;
}

}  // namespace mlt
