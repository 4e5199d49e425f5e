// Tensor lifetime, creation, metadata, device moves, autograd entry points, in-place init.
#include <cstring>
#include "common.h"

using namespace mlt;

extern "C" {

int mlt_free(mlt_tensor t) {
  return guard_int([&] { delete static_cast<at::Tensor*>(t); });
}

mlt_tensor mlt_from_data(const void* data, const int64_t* shape, int ndim, int dtype, int device_type,
                         int device_index, int requires_grad) {
  return guard_tensor([&] {
    auto cpu = at::empty(dims(shape, ndim), options(dtype, 0, -1));
    if (cpu.numel() > 0) {
      if (data == nullptr) throw std::invalid_argument("null data pointer for a non-empty tensor");
      std::memcpy(cpu.data_ptr(), data, static_cast<size_t>(cpu.numel()) * cpu.element_size());
    }
    auto t = device_type == 0 ? cpu : cpu.to(at::Device(static_cast<at::DeviceType>(device_type),
                                                        static_cast<c10::DeviceIndex>(device_index)));
    if (requires_grad) t.set_requires_grad(true);
    return t;
  });
}

mlt_tensor mlt_empty(const int64_t* shape, int ndim, int dtype, int device_type, int device_index) {
  return guard_tensor([&] { return at::empty(dims(shape, ndim), options(dtype, device_type, device_index)); });
}

mlt_tensor mlt_full(const int64_t* shape, int ndim, double value, int dtype, int device_type, int device_index,
                    int requires_grad) {
  return guard_tensor([&] {
    auto t = at::full(dims(shape, ndim), value, options(dtype, device_type, device_index));
    if (requires_grad) t.set_requires_grad(true);
    return t;
  });
}

mlt_tensor mlt_rand(const int64_t* shape, int ndim, int normal, int dtype, int device_type, int device_index) {
  return guard_tensor([&] {
    auto o = options(dtype, device_type, device_index);
    return normal ? at::randn(dims(shape, ndim), o) : at::rand(dims(shape, ndim), o);
  });
}

mlt_tensor mlt_arange(double start, double end, double step, int dtype, int device_type, int device_index) {
  return guard_tensor([&] { return at::arange(start, end, step, options(dtype, device_type, device_index)); });
}

int mlt_copy_to(mlt_tensor h, void* dst, int64_t nbytes) {
  return guard_int([&] {
    auto t = T(h).detach().to(at::kCPU).contiguous();
    int64_t need = t.numel() * static_cast<int64_t>(t.element_size());
    if (need != nbytes)
      throw std::invalid_argument("destination holds " + std::to_string(nbytes) + " bytes, tensor needs " +
                                  std::to_string(need));
    if (need > 0) std::memcpy(dst, t.data_ptr(), static_cast<size_t>(need));
  });
}

void* mlt_data_ptr(mlt_tensor h) {
  try { return T(h).data_ptr(); } catch (const std::exception& e) { set_error(e.what()); return nullptr; }
}
int mlt_dim(mlt_tensor h) { return static_cast<int>(T(h).dim()); }
int mlt_shape(mlt_tensor h, int64_t* out, int cap) {
  auto s = T(h).sizes();
  for (int i = 0; i < cap && i < static_cast<int>(s.size()); i++) out[i] = s[static_cast<size_t>(i)];
  return static_cast<int>(s.size());
}
int mlt_strides(mlt_tensor h, int64_t* out, int cap) {
  auto s = T(h).strides();
  for (int i = 0; i < cap && i < static_cast<int>(s.size()); i++) out[i] = s[static_cast<size_t>(i)];
  return static_cast<int>(s.size());
}
int mlt_dtype(mlt_tensor h) { return static_cast<int>(T(h).scalar_type()); }
int mlt_device_type(mlt_tensor h) { return static_cast<int>(T(h).device().type()); }
int mlt_device_index(mlt_tensor h) { return static_cast<int>(T(h).device().index()); }
int64_t mlt_numel(mlt_tensor h) { return T(h).numel(); }
int mlt_is_contiguous(mlt_tensor h) { return T(h).is_contiguous() ? 1 : 0; }
int mlt_requires_grad(mlt_tensor h) { return T(h).requires_grad() ? 1 : 0; }
int mlt_set_requires_grad(mlt_tensor h, int requires_grad) {
  return guard_int([&] { T(h).set_requires_grad(requires_grad != 0); });
}
int mlt_is_leaf(mlt_tensor h) { return T(h).is_leaf() ? 1 : 0; }

int mlt_item(mlt_tensor h, double* out) {
  return guard_int([&] { *out = T(h).item<double>(); });
}

mlt_tensor mlt_to(mlt_tensor h, int device_type, int device_index, int dtype, int non_blocking, int copy) {
  return guard_tensor([&] {
    auto& t = T(h);
    auto st = dtype < 0 ? t.scalar_type() : static_cast<at::ScalarType>(dtype);
    return t.to(at::Device(static_cast<at::DeviceType>(device_type), static_cast<c10::DeviceIndex>(device_index)), st,
                non_blocking != 0, copy != 0);
  });
}
mlt_tensor mlt_pin_memory(mlt_tensor h) { return guard_tensor([&] { return T(h).pin_memory(); }); }
// channels_last: the canonical NHWC strides (C*H*W, 1, W*C, C), as tensor.to(memory_format=torch.channels_last) gives
// them. contiguous(ChannelsLast) alone keeps NCHW strides when a size-1 dimension makes both layouts "contiguous" (one
// input channel, 1x1 kernels); oneDNN then reads the tensor as NCHW.
mlt_tensor mlt_contiguous(mlt_tensor h, int channels_last) {
  return guard_tensor([&] {
    const auto& t = T(h);
    if (!channels_last) return t.contiguous();
    auto r = t.contiguous(at::MemoryFormat::ChannelsLast);
    if (r.dim() != 4) return r;
    auto n = r.sizes();
    auto s = r.strides();
    if (s[1] == 1 && s[3] == n[1] && s[2] == n[3] * n[1] && s[0] == n[2] * n[3] * n[1]) return r;
    auto e = at::empty(t.sizes(), t.options().memory_format(at::MemoryFormat::ChannelsLast));
    e.copy_(t);
    return e;
  });
}
mlt_tensor mlt_clone(mlt_tensor h) { return guard_tensor([&] { return T(h).clone(); }); }
mlt_tensor mlt_detach(mlt_tensor h) { return guard_tensor([&] { return T(h).detach(); }); }
mlt_tensor mlt_alias(mlt_tensor h) { return guard_tensor([&] { return T(h); }); }
int mlt_set_data(mlt_tensor h, mlt_tensor data) { return guard_int([&] { T(h).set_data(T(data)); }); }

/* ---- autograd ---- */
int mlt_backward(mlt_tensor h, mlt_tensor grad, int retain_graph) {
  return guard_int([&] {
    auto& t = T(h);
    if (!t.requires_grad())
      throw std::invalid_argument("backward() on a tensor that does not require grad (no graph was recorded)");
    t.backward(optT(grad), retain_graph != 0 ? c10::optional<bool>(true) : c10::nullopt);
  });
}

mlt_tensor mlt_grad(mlt_tensor h) {
  clear_error();
  try {
    auto g = T(h).grad();
    if (!g.defined()) return nullptr;
    return wrap(g);
  } catch (const std::exception& e) {
    set_error(e.what());
    return nullptr;
  }
}

int mlt_set_grad(mlt_tensor h, mlt_tensor grad) {
  return guard_int([&] { T(h).mutable_grad() = optT(grad); });
}

int mlt_zero_grad(mlt_tensor* params, int n, int set_to_none) {
  return guard_int([&] {
    for (int i = 0; i < n; i++) {
      auto& g = T(params[i]).mutable_grad();
      if (!g.defined()) continue;
      if (set_to_none) {
        g = at::Tensor();
      } else {
        if (g.grad_fn()) g = g.detach(); else g.requires_grad_(false);
        g.zero_();
      }
    }
  });
}

int mlt_clip_grad_norm(mlt_tensor* params, int n, double max_norm, double norm_type, double* total_norm) {
  return guard_int([&] {
    at::NoGradGuard no_grad;
    std::vector<at::Tensor> grads;
    for (int i = 0; i < n; i++) {
      auto g = T(params[i]).grad();
      if (g.defined()) grads.push_back(g);
    }
    if (grads.empty()) { *total_norm = 0.0; return; }
    at::Tensor total;
    if (std::isinf(norm_type)) {
      std::vector<at::Tensor> norms;
      for (auto& g : grads) norms.push_back(g.abs().max());
      total = norms.size() == 1 ? norms[0] : at::stack(norms).max();
    } else {
      std::vector<at::Tensor> norms;
      for (auto& g : grads) norms.push_back(at::norm(g, norm_type));
      total = at::norm(at::stack(norms), norm_type);
    }
    auto coef = max_norm / (total + 1e-6);
    auto coef_clamped = at::clamp(coef, c10::nullopt, 1.0);
    for (auto& g : grads) g.mul_(coef_clamped);
    *total_norm = total.item<double>();
  });
}

/* ---- in-place init / copy ---- */
int mlt_uniform_(mlt_tensor h, double low, double high) {
  return guard_int([&] { at::NoGradGuard g; T(h).uniform_(low, high); });
}
int mlt_normal_(mlt_tensor h, double mean, double std) {
  return guard_int([&] { at::NoGradGuard g; T(h).normal_(mean, std); });
}
int mlt_fill_(mlt_tensor h, double value) {
  return guard_int([&] { at::NoGradGuard g; T(h).fill_(value); });
}
int mlt_copy_(mlt_tensor dst, mlt_tensor src) {
  return guard_int([&] { at::NoGradGuard g; T(dst).copy_(T(src)); });
}

}  // extern "C"
