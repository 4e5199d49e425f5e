// Elementwise, reductions, shape manipulation.
#include <cmath>
#include "common.h"

using namespace mlt;

static at::Tensor unary(int op, const at::Tensor& x) {
  switch (op) {
    case MLT_UNARY_RELU: return at::relu(x);
    case MLT_UNARY_RELU6: return at::hardtanh(x, 0.0, 6.0);
    case MLT_UNARY_SIGMOID: return at::sigmoid(x);
    case MLT_UNARY_HARDSIGMOID: return at::hardsigmoid(x);
    case MLT_UNARY_HARDSWISH: return at::hardswish(x);
    case MLT_UNARY_SILU: return at::silu(x);
    case MLT_UNARY_GELU: return at::gelu(x, "none");
    case MLT_UNARY_GELU_TANH: return at::gelu(x, "tanh");
    case MLT_UNARY_TANH: return at::tanh(x);
    case MLT_UNARY_EXP: return at::exp(x);
    case MLT_UNARY_LOG: return at::log(x);
    case MLT_UNARY_SQRT: return at::sqrt(x);
    case MLT_UNARY_NEG: return at::neg(x);
    case MLT_UNARY_ABS: return at::abs(x);
    case MLT_UNARY_RSQRT: return at::rsqrt(x);
    case MLT_UNARY_SQUARE: return at::square(x);
    case MLT_UNARY_RECIPROCAL: return at::reciprocal(x);
    case MLT_UNARY_ISNAN: return at::isnan(x);
    case MLT_UNARY_ISFINITE: return at::isfinite(x);
    case MLT_UNARY_LOGICAL_NOT: return at::logical_not(x);
  }
  throw std::invalid_argument("unknown unary op " + std::to_string(op));
}

static void unary_(int op, at::Tensor& x) {
  switch (op) {
    case MLT_UNARY_RELU: x.relu_(); return;
    case MLT_UNARY_RELU6: at::hardtanh_(x, 0.0, 6.0); return;
    case MLT_UNARY_SIGMOID: x.sigmoid_(); return;
    case MLT_UNARY_HARDSIGMOID: at::hardsigmoid_(x); return;
    case MLT_UNARY_HARDSWISH: at::hardswish_(x); return;
    case MLT_UNARY_SILU: at::silu_(x); return;
    case MLT_UNARY_TANH: x.tanh_(); return;
    case MLT_UNARY_EXP: x.exp_(); return;
    case MLT_UNARY_LOG: x.log_(); return;
    case MLT_UNARY_SQRT: x.sqrt_(); return;
    case MLT_UNARY_NEG: x.neg_(); return;
    case MLT_UNARY_ABS: x.abs_(); return;
    case MLT_UNARY_RSQRT: x.rsqrt_(); return;
    case MLT_UNARY_SQUARE: x.square_(); return;
    case MLT_UNARY_RECIPROCAL: x.reciprocal_(); return;
  }
  throw std::invalid_argument("unary op " + std::to_string(op) + " has no in-place form");
}

static at::Tensor binary(int op, const at::Tensor& a, const at::Tensor& b, double alpha) {
  switch (op) {
    case MLT_BIN_ADD: return at::add(a, b, alpha);
    case MLT_BIN_SUB: return at::sub(a, b, alpha);
    case MLT_BIN_MUL: return at::mul(a, b);
    case MLT_BIN_DIV: return at::div(a, b);
    case MLT_BIN_POW: return at::pow(a, b);
    case MLT_BIN_MAXIMUM: return at::maximum(a, b);
    case MLT_BIN_MINIMUM: return at::minimum(a, b);
    case MLT_BIN_EQ: return at::eq(a, b);
    case MLT_BIN_NE: return at::ne(a, b);
    case MLT_BIN_LT: return at::lt(a, b);
    case MLT_BIN_LE: return at::le(a, b);
    case MLT_BIN_GT: return at::gt(a, b);
    case MLT_BIN_GE: return at::ge(a, b);
    case MLT_BIN_REMAINDER: return at::remainder(a, b);
  }
  throw std::invalid_argument("unknown binary op " + std::to_string(op));
}

static void binary_(int op, at::Tensor& a, const at::Tensor& b, double alpha) {
  switch (op) {
    case MLT_BIN_ADD: a.add_(b, alpha); return;
    case MLT_BIN_SUB: a.sub_(b, alpha); return;
    case MLT_BIN_MUL: a.mul_(b); return;
    case MLT_BIN_DIV: a.div_(b); return;
    case MLT_BIN_POW: a.pow_(b); return;
    case MLT_BIN_REMAINDER: a.remainder_(b); return;
  }
  throw std::invalid_argument("binary op " + std::to_string(op) + " has no in-place form");
}

// An integral tensor combined with a whole number keeps its integral type (as Python's `t + 1` does).
static at::Scalar scalar_for(const at::Tensor& a, double s) {
  if (!at::isFloatingType(a.scalar_type()) && std::floor(s) == s && std::abs(s) < 9.0e15) return at::Scalar(static_cast<int64_t>(s));
  return at::Scalar(s);
}

static at::Tensor binary_scalar(int op, const at::Tensor& a, double s, bool reverse) {
  at::Scalar sc = scalar_for(a, s);
  if (reverse) {
    switch (op) {
      case MLT_BIN_ADD: return at::add(a, sc);
      case MLT_BIN_SUB: return at::rsub(a, sc);
      case MLT_BIN_MUL: return at::mul(a, sc);
      case MLT_BIN_DIV: return at::mul(at::reciprocal(a), sc);
      case MLT_BIN_POW: return at::pow(sc, a);
    }
    throw std::invalid_argument("binary op " + std::to_string(op) + " has no scalar-first form");
  }
  switch (op) {
    case MLT_BIN_ADD: return at::add(a, sc);
    case MLT_BIN_SUB: return at::sub(a, sc);
    case MLT_BIN_MUL: return at::mul(a, sc);
    case MLT_BIN_DIV: return at::div(a, sc);
    case MLT_BIN_POW: return at::pow(a, sc);
    case MLT_BIN_MAXIMUM: return at::clamp_min(a, sc);
    case MLT_BIN_MINIMUM: return at::clamp_max(a, sc);
    case MLT_BIN_EQ: return at::eq(a, sc);
    case MLT_BIN_NE: return at::ne(a, sc);
    case MLT_BIN_LT: return at::lt(a, sc);
    case MLT_BIN_LE: return at::le(a, sc);
    case MLT_BIN_GT: return at::gt(a, sc);
    case MLT_BIN_GE: return at::ge(a, sc);
    case MLT_BIN_REMAINDER: return at::remainder(a, sc);
  }
  throw std::invalid_argument("unknown binary op " + std::to_string(op));
}

extern "C" {

mlt_tensor mlt_unary(int op, mlt_tensor x) { return guard_tensor([&] { return unary(op, T(x)); }); }
int mlt_unary_(int op, mlt_tensor x) { return guard_int([&] { unary_(op, T(x)); }); }
mlt_tensor mlt_leaky_relu(mlt_tensor x, double slope) { return guard_tensor([&] { return at::leaky_relu(T(x), slope); }); }

mlt_tensor mlt_binary(int op, mlt_tensor a, mlt_tensor b, double alpha) {
  return guard_tensor([&] { return binary(op, T(a), T(b), alpha); });
}
int mlt_binary_(int op, mlt_tensor a, mlt_tensor b, double alpha) {
  return guard_int([&] { binary_(op, T(a), T(b), alpha); });
}
mlt_tensor mlt_binary_scalar(int op, mlt_tensor a, double s, int reverse) {
  return guard_tensor([&] { return binary_scalar(op, T(a), s, reverse != 0); });
}
int mlt_binary_scalar_(int op, mlt_tensor a, double s) {
  return guard_int([&] {
    auto& t = T(a);
    at::Scalar sc = scalar_for(t, s);
    switch (op) {
      case MLT_BIN_ADD: t.add_(sc); return;
      case MLT_BIN_SUB: t.sub_(sc); return;
      case MLT_BIN_MUL: t.mul_(sc); return;
      case MLT_BIN_DIV: t.div_(sc); return;
      case MLT_BIN_POW: t.pow_(sc); return;
      case MLT_BIN_MAXIMUM: t.clamp_min_(sc); return;
      case MLT_BIN_MINIMUM: t.clamp_max_(sc); return;
    }
    throw std::invalid_argument("binary op " + std::to_string(op) + " has no in-place scalar form");
  });
}
mlt_tensor mlt_clamp(mlt_tensor x, double min, double max, int has_min, int has_max) {
  return guard_tensor([&] {
    return at::clamp(T(x), has_min ? c10::optional<at::Scalar>(min) : c10::nullopt,
                     has_max ? c10::optional<at::Scalar>(max) : c10::nullopt);
  });
}
mlt_tensor mlt_where(mlt_tensor cond, mlt_tensor a, mlt_tensor b) {
  return guard_tensor([&] { return at::where(T(cond), T(a), T(b)); });
}
mlt_tensor mlt_masked_fill(mlt_tensor x, mlt_tensor mask, double value) {
  return guard_tensor([&] { return T(x).masked_fill(T(mask), value); });
}

/* ---- reductions ---- */
mlt_tensor mlt_reduce(int op, mlt_tensor xh, const int64_t* d, int nd, int keepdim) {
  return guard_tensor([&] {
    auto& x = T(xh);
    bool all = nd == 0;
    auto dd = dims(d, nd);
    bool kd = keepdim != 0;
    switch (op) {
      case 0: return all ? (kd ? x.sum(at::IntArrayRef{}, true) : x.sum()) : x.sum(dd, kd);
      case 1: return all ? (kd ? x.mean(at::IntArrayRef{}, true) : x.mean()) : x.mean(dd, kd);
      case 2: return x.amax(dd, kd);
      case 3: return x.amin(dd, kd);
      case 4:
        if (all) return x.prod();
        if (nd != 1) throw std::invalid_argument("prod reduces over one dim at a time");
        return x.prod(d[0], kd);
      case 5: return all ? x.std() : at::std(x, dd, /*unbiased=*/true, kd);
      case 6: return all ? x.var() : at::var(x, dd, /*unbiased=*/true, kd);
    }
    throw std::invalid_argument("unknown reduction " + std::to_string(op));
  });
}

int mlt_reduce_with_indices(int op, mlt_tensor x, int64_t dim, int keepdim, mlt_tensor* values, mlt_tensor* indices) {
  return guard_int([&] {
    auto r = op == 0 ? at::max(T(x), dim, keepdim != 0) : at::min(T(x), dim, keepdim != 0);
    *values = wrap(std::get<0>(r));
    *indices = wrap(std::get<1>(r));
  });
}
mlt_tensor mlt_argmax(mlt_tensor x, int64_t dim, int has_dim, int keepdim) {
  return guard_tensor([&] {
    return at::argmax(T(x), has_dim ? c10::optional<int64_t>(dim) : c10::nullopt, keepdim != 0);
  });
}
int mlt_topk(mlt_tensor x, int64_t k, int64_t dim, int largest, int sorted, mlt_tensor* values, mlt_tensor* indices) {
  return guard_int([&] {
    auto r = at::topk(T(x), k, dim, largest != 0, sorted != 0);
    *values = wrap(std::get<0>(r));
    *indices = wrap(std::get<1>(r));
  });
}
mlt_tensor mlt_norm(mlt_tensor x, double p) { return guard_tensor([&] { return at::norm(T(x), p); }); }

/* ---- shape ---- */
mlt_tensor mlt_view(mlt_tensor x, const int64_t* s, int n) { return guard_tensor([&] { return T(x).view(dims(s, n)); }); }
mlt_tensor mlt_reshape(mlt_tensor x, const int64_t* s, int n) { return guard_tensor([&] { return T(x).reshape(dims(s, n)); }); }
mlt_tensor mlt_permute(mlt_tensor x, const int64_t* s, int n) { return guard_tensor([&] { return T(x).permute(dims(s, n)); }); }
mlt_tensor mlt_transpose(mlt_tensor x, int64_t d0, int64_t d1) { return guard_tensor([&] { return T(x).transpose(d0, d1); }); }
mlt_tensor mlt_flatten(mlt_tensor x, int64_t a, int64_t b) { return guard_tensor([&] { return T(x).flatten(a, b); }); }
mlt_tensor mlt_expand(mlt_tensor x, const int64_t* s, int n) { return guard_tensor([&] { return T(x).expand(dims(s, n)); }); }
mlt_tensor mlt_unsqueeze(mlt_tensor x, int64_t d) { return guard_tensor([&] { return T(x).unsqueeze(d); }); }
mlt_tensor mlt_squeeze(mlt_tensor x, int64_t d, int all) {
  return guard_tensor([&] { return all ? T(x).squeeze() : T(x).squeeze(d); });
}
mlt_tensor mlt_index_select(mlt_tensor x, int64_t dim, mlt_tensor index) {
  return guard_tensor([&] { return T(x).index_select(dim, T(index)); });
}
mlt_tensor mlt_narrow(mlt_tensor x, int64_t dim, int64_t start, int64_t length) {
  return guard_tensor([&] { return T(x).narrow(dim, start, length); });
}
mlt_tensor mlt_select(mlt_tensor x, int64_t dim, int64_t index) {
  return guard_tensor([&] { return T(x).select(dim, index); });
}
mlt_tensor mlt_cat(mlt_tensor* xs, int n, int64_t dim) { return guard_tensor([&] { return at::cat(list(xs, n), dim); }); }
mlt_tensor mlt_stack(mlt_tensor* xs, int n, int64_t dim) { return guard_tensor([&] { return at::stack(list(xs, n), dim); }); }

int mlt_split(mlt_tensor x, int mode, int64_t size, const int64_t* sizes, int nsizes, int64_t dim, mlt_tensor* out, int cap) {
  std::vector<at::Tensor> parts;
  int rc = guard_int([&] {
    auto& t = T(x);
    if (mode == 0) parts = t.split_with_sizes(dims(sizes, nsizes), dim);
    else if (mode == 1) parts = t.split(size, dim);
    else parts = t.chunk(size, dim);
    if (static_cast<int>(parts.size()) > cap)
      throw std::invalid_argument("split produced " + std::to_string(parts.size()) + " parts, room for " +
                                  std::to_string(cap));
  });
  if (rc != 0) return -1;
  for (size_t i = 0; i < parts.size(); i++) out[i] = wrap(parts[i]);
  return static_cast<int>(parts.size());
}

mlt_tensor mlt_one_hot(mlt_tensor labels, int64_t num_classes) {
  return guard_tensor([&] { return at::one_hot(T(labels), num_classes); });
}

}  // extern "C"
