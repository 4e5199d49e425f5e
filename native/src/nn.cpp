// Linear algebra, convolution, normalisation, pooling, resampling, losses, optimizer steps.
#include <cmath>
#include "common.h"

using namespace mlt;

extern "C" {

mlt_tensor mlt_matmul(mlt_tensor a, mlt_tensor b) { return guard_tensor([&] { return at::matmul(T(a), T(b)); }); }
mlt_tensor mlt_bmm(mlt_tensor a, mlt_tensor b) { return guard_tensor([&] { return at::bmm(T(a), T(b)); }); }
mlt_tensor mlt_linear(mlt_tensor x, mlt_tensor w, mlt_tensor b) {
  return guard_tensor([&] { return at::linear(T(x), T(w), opt(b)); });
}
mlt_tensor mlt_conv2d(mlt_tensor x, mlt_tensor w, mlt_tensor b, const int64_t* stride, const int64_t* padding,
                      const int64_t* dilation, int64_t groups) {
  return guard_tensor([&] {
    return at::conv2d(T(x), T(w), opt(b), dims(stride, 2), dims(padding, 2), dims(dilation, 2), groups);
  });
}
mlt_tensor mlt_conv1d(mlt_tensor x, mlt_tensor w, mlt_tensor b, int64_t stride, int64_t padding, int64_t dilation,
                      int64_t groups) {
  return guard_tensor([&] {
    return at::conv1d(T(x), T(w), opt(b), at::IntArrayRef{stride}, at::IntArrayRef{padding}, at::IntArrayRef{dilation},
                      groups);
  });
}

mlt_tensor mlt_batch_norm(mlt_tensor x, mlt_tensor weight, mlt_tensor bias, mlt_tensor running_mean,
                          mlt_tensor running_var, int training, double momentum, double eps) {
  return guard_tensor([&] {
    return at::batch_norm(T(x), opt(weight), opt(bias), opt(running_mean), opt(running_var), training != 0, momentum,
                          eps, at::globalContext().userEnabledCuDNN());
  });
}
mlt_tensor mlt_layer_norm(mlt_tensor x, const int64_t* shape, int n, mlt_tensor weight, mlt_tensor bias, double eps) {
  return guard_tensor([&] { return at::layer_norm(T(x), dims(shape, n), opt(weight), opt(bias), eps); });
}
mlt_tensor mlt_group_norm(mlt_tensor x, int64_t groups, mlt_tensor weight, mlt_tensor bias, double eps) {
  return guard_tensor([&] { return at::group_norm(T(x), groups, opt(weight), opt(bias), eps); });
}
mlt_tensor mlt_dropout(mlt_tensor x, double p, int training) {
  return guard_tensor([&] {
    if (p < 0.0 || p > 1.0) throw std::invalid_argument("dropout probability must be in [0, 1], got " + std::to_string(p));
    return at::dropout(T(x), p, training != 0);
  });
}
mlt_tensor mlt_softmax(mlt_tensor x, int64_t dim, int log) {
  return guard_tensor([&] { return log ? at::log_softmax(T(x), dim) : at::softmax(T(x), dim); });
}

mlt_tensor mlt_max_pool2d(mlt_tensor x, const int64_t* kernel, const int64_t* stride, const int64_t* padding,
                          const int64_t* dilation, int ceil_mode) {
  return guard_tensor([&] {
    return at::max_pool2d(T(x), dims(kernel, 2), dims(stride, 2), dims(padding, 2), dims(dilation, 2), ceil_mode != 0);
  });
}
mlt_tensor mlt_avg_pool2d(mlt_tensor x, const int64_t* kernel, const int64_t* stride, const int64_t* padding,
                          int ceil_mode, int count_include_pad) {
  return guard_tensor([&] {
    return at::avg_pool2d(T(x), dims(kernel, 2), dims(stride, 2), dims(padding, 2), ceil_mode != 0,
                          count_include_pad != 0);
  });
}
mlt_tensor mlt_adaptive_pool2d(mlt_tensor x, int64_t out_h, int64_t out_w, int max) {
  return guard_tensor([&] {
    std::vector<int64_t> size{out_h, out_w};
    if (max) return std::get<0>(at::adaptive_max_pool2d(T(x), size));
    return at::adaptive_avg_pool2d(T(x), size);
  });
}
mlt_tensor mlt_upsample2d(mlt_tensor x, int64_t out_h, int64_t out_w, int mode, int align_corners, double scale_h,
                          double scale_w) {
  return guard_tensor([&] {
    auto& t = T(x);
    if (t.dim() != 4) throw std::invalid_argument("upsample2d expects a 4-D (N,C,H,W) tensor, got " + std::to_string(t.dim()) + "-D");
    std::vector<int64_t> size{out_h, out_w};
    c10::optional<double> sh = scale_h > 0 ? c10::optional<double>(scale_h) : c10::nullopt;
    c10::optional<double> sw = scale_w > 0 ? c10::optional<double>(scale_w) : c10::nullopt;
    if (mode == 0) return at::upsample_nearest2d(t, size, sh, sw);
    return at::upsample_bilinear2d(t, size, align_corners != 0, sh, sw);
  });
}
mlt_tensor mlt_pad(mlt_tensor x, const int64_t* pads, int npads, int mode, double value) {
  return guard_tensor([&] {
    namespace F = torch::nn::functional;
    auto o = F::PadFuncOptions(std::vector<int64_t>(pads, pads + npads));
    switch (mode) {
      case 0: o.mode(torch::kConstant).value(value); break;
      case 1: o.mode(torch::kReflect); break;
      case 2: o.mode(torch::kReplicate); break;
      case 3: o.mode(torch::kCircular); break;
      default: throw std::invalid_argument("unknown pad mode " + std::to_string(mode));
    }
    return F::pad(T(x), o);
  });
}

mlt_tensor mlt_cross_entropy(mlt_tensor logits, mlt_tensor target, mlt_tensor weight, int reduction,
                             int64_t ignore_index, double label_smoothing) {
  return guard_tensor([&] {
    return at::cross_entropy_loss(T(logits), T(target), opt(weight), reduction, ignore_index, label_smoothing);
  });
}
mlt_tensor mlt_nll_loss(mlt_tensor logp, mlt_tensor target, mlt_tensor weight, int reduction, int64_t ignore_index) {
  return guard_tensor([&] { return at::nll_loss_nd(T(logp), T(target), opt(weight), reduction, ignore_index); });
}
mlt_tensor mlt_mse_loss(mlt_tensor x, mlt_tensor y, int reduction) {
  return guard_tensor([&] { return at::mse_loss(T(x), T(y), reduction); });
}

// torch.optim.SGD of PyTorch 1.13, step for step: use_foreach = 0 is its per-parameter loop (foreach=False), use_foreach = 1
// its multi-tensor form (_multi_tensor_sgd: one _foreach_* call per operation over all parameters, which on CUDA is a
// handful of fused kernel launches instead of ~5 per parameter). Both give the same values; neither writes to the
// gradients.
int mlt_sgd_step(mlt_tensor* params, mlt_tensor* bufs, int n, double lr, double momentum, double dampening,
                 double weight_decay, int nesterov, int maximize, int use_foreach) {
  return guard_int([&] {
    at::NoGradGuard no_grad;
    if (use_foreach) {
      std::vector<at::Tensor> ps, ds;
      std::vector<int> index;
      for (int i = 0; i < n; i++) {
        auto& p = T(params[i]);
        const auto& g = p.grad();
        if (!g.defined()) continue;
        ps.push_back(p);
        ds.push_back(maximize ? g.neg() : g);
        index.push_back(i);
      }
      if (ps.empty()) return;
      if (weight_decay != 0) ds = at::_foreach_add(ds, ps, weight_decay);
      if (momentum != 0) {
        bool all = true;
        for (int i : index) all = all && bufs[i] != nullptr;
        std::vector<at::Tensor> bs;
        bs.reserve(index.size());
        if (all) {
          for (int i : index) bs.push_back(T(bufs[i]));
          at::_foreach_mul_(bs, momentum);
          at::_foreach_add_(bs, ds, 1 - dampening);
        } else {
          for (size_t k = 0; k < index.size(); k++) {
            int i = index[k];
            if (bufs[i] == nullptr) {
              bufs[i] = wrap(ds[k].clone().detach());
            } else {
              T(bufs[i]).mul_(momentum).add_(ds[k], 1 - dampening);
            }
            bs.push_back(T(bufs[i]));
          }
        }
        if (nesterov) ds = at::_foreach_add(ds, bs, momentum);
        else ds = bs;
      }
      at::_foreach_add_(ps, ds, -lr);
      return;
    }
    for (int i = 0; i < n; i++) {
      auto& p = T(params[i]);
      auto g = p.grad();
      if (!g.defined()) continue;
      at::Tensor d_p = maximize ? -g : g;
      if (weight_decay != 0) d_p = d_p.add(p, weight_decay);
      if (momentum != 0) {
        if (bufs[i] == nullptr) {
          bufs[i] = wrap(d_p.clone().detach());
          d_p = nesterov ? d_p.add(T(bufs[i]), momentum) : T(bufs[i]);
        } else {
          auto& buf = T(bufs[i]);
          buf.mul_(momentum).add_(d_p, 1 - dampening);
          d_p = nesterov ? d_p.add(buf, momentum) : buf;
        }
      }
      p.add_(d_p, -lr);
    }
  });
}

// torch.optim.AdamW of PyTorch 1.13, step for step: use_foreach = 0 is its per-parameter loop (foreach=False),
// use_foreach = 1 its multi-tensor form (_multi_tensor_adamw: _foreach_* calls over all parameters). Same values.
int mlt_adamw_step(mlt_tensor* params, mlt_tensor* exp_avg, mlt_tensor* exp_avg_sq, mlt_tensor* max_exp_avg_sq,
                   int64_t* steps, int n, double lr, double beta1, double beta2, double eps, double weight_decay,
                   int amsgrad, int maximize, int use_foreach) {
  return guard_int([&] {
    at::NoGradGuard no_grad;
    if (use_foreach) {
      std::vector<at::Tensor> ps, gs, ms, vs, vmaxs;
      std::vector<at::Scalar> step_sizes, bc2_sqrts;
      for (int i = 0; i < n; i++) {
        auto& p = T(params[i]);
        const auto& g = p.grad();
        if (!g.defined()) continue;
        if (exp_avg[i] == nullptr) exp_avg[i] = wrap(at::zeros_like(p, at::MemoryFormat::Preserve));
        if (exp_avg_sq[i] == nullptr) exp_avg_sq[i] = wrap(at::zeros_like(p, at::MemoryFormat::Preserve));
        if (amsgrad && max_exp_avg_sq[i] == nullptr) max_exp_avg_sq[i] = wrap(at::zeros_like(p, at::MemoryFormat::Preserve));
        ps.push_back(p);
        gs.push_back(maximize ? g.neg() : g);
        ms.push_back(T(exp_avg[i]));
        vs.push_back(T(exp_avg_sq[i]));
        if (amsgrad) vmaxs.push_back(T(max_exp_avg_sq[i]));
        int64_t step = ++steps[i];
        double bc1 = 1 - std::pow(beta1, static_cast<double>(step));
        double bc2 = 1 - std::pow(beta2, static_cast<double>(step));
        step_sizes.emplace_back(-(lr / bc1));
        bc2_sqrts.emplace_back(std::sqrt(bc2));
      }
      if (ps.empty()) return;
      at::_foreach_mul_(ps, 1 - lr * weight_decay);
      at::_foreach_mul_(ms, beta1);
      at::_foreach_add_(ms, gs, 1 - beta1);
      at::_foreach_mul_(vs, beta2);
      at::_foreach_addcmul_(vs, gs, gs, 1 - beta2);
      std::vector<at::Tensor> denom;
      if (amsgrad) {
        for (size_t k = 0; k < vmaxs.size(); k++) at::maximum_out(vmaxs[k], vmaxs[k], vs[k]);
        denom = at::_foreach_sqrt(vmaxs);
      } else {
        denom = at::_foreach_sqrt(vs);
      }
      at::_foreach_div_(denom, bc2_sqrts);
      at::_foreach_add_(denom, eps);
      at::_foreach_addcdiv_(ps, ms, denom, step_sizes);
      return;
    }
    for (int i = 0; i < n; i++) {
      auto& p = T(params[i]);
      auto g = p.grad();
      if (!g.defined()) continue;
      if (maximize) g = -g;
      if (exp_avg[i] == nullptr) exp_avg[i] = wrap(at::zeros_like(p, at::MemoryFormat::Preserve));
      if (exp_avg_sq[i] == nullptr) exp_avg_sq[i] = wrap(at::zeros_like(p, at::MemoryFormat::Preserve));
      if (amsgrad && max_exp_avg_sq[i] == nullptr) max_exp_avg_sq[i] = wrap(at::zeros_like(p, at::MemoryFormat::Preserve));
      auto& m = T(exp_avg[i]);
      auto& v = T(exp_avg_sq[i]);
      int64_t step = ++steps[i];
      p.mul_(1 - lr * weight_decay);
      m.mul_(beta1).add_(g, 1 - beta1);
      v.mul_(beta2).addcmul_(g, g, 1 - beta2);
      double bc1 = 1 - std::pow(beta1, static_cast<double>(step));
      double bc2 = 1 - std::pow(beta2, static_cast<double>(step));
      double step_size = lr / bc1;
      double bc2_sqrt = std::sqrt(bc2);
      at::Tensor denom;
      if (amsgrad) {
        auto& vmax = T(max_exp_avg_sq[i]);
        at::maximum_out(vmax, vmax, v);
        denom = (vmax.sqrt() / bc2_sqrt).add_(eps);
      } else {
        denom = (v.sqrt() / bc2_sqrt).add_(eps);
      }
      p.addcdiv_(m, denom, -step_size);
    }
  });
}

}  // extern "C"
