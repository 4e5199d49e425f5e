/*
 * mlnet_torch: a flat C ABI over libtorch for MLNet.Attention's C# binding.
 *
 * Conventions
 *  - A tensor is an opaque handle (an owned at::Tensor on the heap); free it with mlt_free.
 *  - Functions returning a handle return NULL on failure; functions returning int return 0 on
 *    success and -1 on failure. After a failure, mlt_last_error() holds libtorch's message
 *    (thread-local). No C++ exception ever crosses this boundary.
 *  - Optional tensor arguments accept NULL.
 *  - dtype codes are c10::ScalarType values (uint8=0, int8=1, int16=2, int32=3, int64=4,
 *    float16=5, float32=6, float64=7, bool=11, bfloat16=15); device types are c10::DeviceType
 *    values (cpu=0, cuda=1).
 */
#ifndef MLNET_TORCH_H
#define MLNET_TORCH_H

#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

#define MLT_API __attribute__((visibility("default")))

typedef void* mlt_tensor;

/* ---- errors, runtime ---- */
MLT_API const char* mlt_last_error(void);
MLT_API const char* mlt_version(void);          /* libtorch version this library was built with */
MLT_API int mlt_set_num_threads(int n);
MLT_API int mlt_get_num_threads(void);
/* glibc only: fixes malloc's mmap and trim thresholds (bytes) so libtorch's large activation buffers are reused
   instead of being returned to the OS and faulted in again every step. Returns 1 when applied, 0 when not glibc. */
MLT_API int mlt_configure_malloc(int64_t mmap_threshold, int64_t trim_threshold);
MLT_API int mlt_manual_seed(uint64_t seed);
MLT_API int mlt_cuda_is_available(void);
MLT_API int mlt_cuda_device_count(void);
MLT_API int mlt_cuda_synchronize(int device_index);
MLT_API int mlt_set_grad_enabled(int enabled);   /* returns the previous state, or -1 */
MLT_API int mlt_is_grad_enabled(void);
MLT_API void* mlt_inference_mode_enter(void);   /* returns a guard; exit on the same thread */
MLT_API int mlt_inference_mode_exit(void* guard);
/* autocast (torch.autocast) for a device type (cpu 0, cuda 1) and dtype (bfloat16 15, float16 5), thread-local:
   enter returns a scope (NULL on error) that exit restores; exit on the same thread, innermost first. */
MLT_API void* mlt_autocast_enter(int device_type, int dtype, int enabled, int cache_enabled);
MLT_API int mlt_autocast_exit(void* scope);
MLT_API int mlt_autocast_is_enabled(int device_type);   /* 1/0, or -1 */
MLT_API int mlt_autocast_dtype(int device_type);        /* the dtype code autocast casts to, or -1 */
/* GradScaler's unscale: found_inf (one float32 element) becomes 1 when any gradient holds a NaN or an infinity, then
   every gradient is multiplied by inv_scale (one float32 element); all on one device. allow_fused: use libtorch's
   fused CUDA kernel (_amp_foreach_non_finite_check_and_unscale_) for CUDA tensors. */
/* TensorFloat-32 on Ampere+ GPUs (torch.backends.cudnn.allow_tf32 / torch.backends.cuda.matmul.allow_tf32): get returns
   bit 0 cudnn, bit 1 cublas; set takes 1/0 for each, -1 to leave one as it is. */
MLT_API int mlt_get_allow_tf32(void);
MLT_API int mlt_set_allow_tf32(int cudnn, int cublas);
MLT_API int mlt_amp_unscale_(mlt_tensor* grads, int n, mlt_tensor found_inf, mlt_tensor inv_scale, int allow_fused);

/* ---- tensor lifetime and metadata ---- */
MLT_API int mlt_free(mlt_tensor t);
MLT_API mlt_tensor mlt_from_data(const void* data, const int64_t* shape, int ndim, int dtype,
                                 int device_type, int device_index, int requires_grad);
MLT_API mlt_tensor mlt_empty(const int64_t* shape, int ndim, int dtype, int device_type, int device_index);
MLT_API mlt_tensor mlt_full(const int64_t* shape, int ndim, double value, int dtype, int device_type,
                            int device_index, int requires_grad);
MLT_API mlt_tensor mlt_rand(const int64_t* shape, int ndim, int normal, int dtype, int device_type, int device_index);
MLT_API mlt_tensor mlt_arange(double start, double end, double step, int dtype, int device_type, int device_index);
MLT_API int mlt_copy_to(mlt_tensor t, void* dst, int64_t nbytes);   /* any device/layout -> CPU contiguous bytes */
MLT_API void* mlt_data_ptr(mlt_tensor t);
MLT_API int mlt_dim(mlt_tensor t);
MLT_API int mlt_shape(mlt_tensor t, int64_t* out, int cap);   /* returns ndim */
MLT_API int mlt_strides(mlt_tensor t, int64_t* out, int cap);
MLT_API int mlt_dtype(mlt_tensor t);
MLT_API int mlt_device_type(mlt_tensor t);
MLT_API int mlt_device_index(mlt_tensor t);
MLT_API int64_t mlt_numel(mlt_tensor t);
MLT_API int mlt_is_contiguous(mlt_tensor t);
MLT_API int mlt_requires_grad(mlt_tensor t);
MLT_API int mlt_set_requires_grad(mlt_tensor t, int requires_grad);
MLT_API int mlt_is_leaf(mlt_tensor t);
MLT_API int mlt_item(mlt_tensor t, double* out);
MLT_API mlt_tensor mlt_to(mlt_tensor t, int device_type, int device_index, int dtype /* -1 keep */,
                          int non_blocking, int copy);
MLT_API mlt_tensor mlt_pin_memory(mlt_tensor t);
MLT_API mlt_tensor mlt_contiguous(mlt_tensor t, int channels_last);
MLT_API mlt_tensor mlt_clone(mlt_tensor t);
MLT_API mlt_tensor mlt_detach(mlt_tensor t);
MLT_API mlt_tensor mlt_alias(mlt_tensor t);   /* a second handle to the same tensor */
MLT_API int mlt_set_data(mlt_tensor t, mlt_tensor data);   /* PyTorch's `t.data = data` */

/* ---- autograd ---- */
MLT_API int mlt_backward(mlt_tensor t, mlt_tensor grad /* NULL: scalar seed 1 */, int retain_graph);
MLT_API mlt_tensor mlt_grad(mlt_tensor t);   /* NULL with empty error when the grad is undefined */
MLT_API int mlt_set_grad(mlt_tensor t, mlt_tensor grad /* NULL: undefined */);
MLT_API int mlt_zero_grad(mlt_tensor* params, int n, int set_to_none);
MLT_API int mlt_clip_grad_norm(mlt_tensor* params, int n, double max_norm, double norm_type, double* total_norm);

/* ---- in-place initialisation / copy (no autograd record) ---- */
MLT_API int mlt_uniform_(mlt_tensor t, double low, double high);
MLT_API int mlt_normal_(mlt_tensor t, double mean, double std);
MLT_API int mlt_fill_(mlt_tensor t, double value);
MLT_API int mlt_copy_(mlt_tensor dst, mlt_tensor src);

/* ---- elementwise ---- */
/* unary op codes: see MLT_UNARY_* below */
enum {
  MLT_UNARY_RELU = 0, MLT_UNARY_RELU6 = 1, MLT_UNARY_SIGMOID = 2, MLT_UNARY_HARDSIGMOID = 3,
  MLT_UNARY_HARDSWISH = 4, MLT_UNARY_SILU = 5, MLT_UNARY_GELU = 6, MLT_UNARY_GELU_TANH = 7,
  MLT_UNARY_TANH = 8, MLT_UNARY_EXP = 9, MLT_UNARY_LOG = 10, MLT_UNARY_SQRT = 11, MLT_UNARY_NEG = 12,
  MLT_UNARY_ABS = 13, MLT_UNARY_RSQRT = 14, MLT_UNARY_SQUARE = 15, MLT_UNARY_RECIPROCAL = 16,
  MLT_UNARY_ISNAN = 17, MLT_UNARY_ISFINITE = 18, MLT_UNARY_LOGICAL_NOT = 19
};
MLT_API mlt_tensor mlt_unary(int op, mlt_tensor x);
MLT_API int mlt_unary_(int op, mlt_tensor x);
MLT_API mlt_tensor mlt_leaky_relu(mlt_tensor x, double slope);
/* binary op codes */
enum {
  MLT_BIN_ADD = 0, MLT_BIN_SUB = 1, MLT_BIN_MUL = 2, MLT_BIN_DIV = 3, MLT_BIN_POW = 4,
  MLT_BIN_MAXIMUM = 5, MLT_BIN_MINIMUM = 6, MLT_BIN_EQ = 7, MLT_BIN_NE = 8, MLT_BIN_LT = 9,
  MLT_BIN_LE = 10, MLT_BIN_GT = 11, MLT_BIN_GE = 12, MLT_BIN_REMAINDER = 13
};
MLT_API mlt_tensor mlt_binary(int op, mlt_tensor a, mlt_tensor b, double alpha);
MLT_API int mlt_binary_(int op, mlt_tensor a, mlt_tensor b, double alpha);
MLT_API mlt_tensor mlt_binary_scalar(int op, mlt_tensor a, double s, int reverse);
MLT_API int mlt_binary_scalar_(int op, mlt_tensor a, double s);
MLT_API mlt_tensor mlt_clamp(mlt_tensor x, double min, double max, int has_min, int has_max);
MLT_API mlt_tensor mlt_where(mlt_tensor cond, mlt_tensor a, mlt_tensor b);
MLT_API mlt_tensor mlt_masked_fill(mlt_tensor x, mlt_tensor mask, double value);

/* ---- reductions ---- */
/* op: 0 sum, 1 mean, 2 amax, 3 amin, 4 prod(ignored dims>1), 5 std, 6 var; ndims 0 = all */
MLT_API mlt_tensor mlt_reduce(int op, mlt_tensor x, const int64_t* dims, int ndims, int keepdim);
/* op: 0 max, 1 min (values, indices along dim) */
MLT_API int mlt_reduce_with_indices(int op, mlt_tensor x, int64_t dim, int keepdim, mlt_tensor* values, mlt_tensor* indices);
MLT_API mlt_tensor mlt_argmax(mlt_tensor x, int64_t dim, int has_dim, int keepdim);
MLT_API int mlt_topk(mlt_tensor x, int64_t k, int64_t dim, int largest, int sorted, mlt_tensor* values, mlt_tensor* indices);
MLT_API mlt_tensor mlt_norm(mlt_tensor x, double p);

/* ---- shape ---- */
MLT_API mlt_tensor mlt_view(mlt_tensor x, const int64_t* shape, int ndim);
MLT_API mlt_tensor mlt_reshape(mlt_tensor x, const int64_t* shape, int ndim);
MLT_API mlt_tensor mlt_permute(mlt_tensor x, const int64_t* dims, int ndim);
MLT_API mlt_tensor mlt_transpose(mlt_tensor x, int64_t d0, int64_t d1);
MLT_API mlt_tensor mlt_flatten(mlt_tensor x, int64_t start, int64_t end);
MLT_API mlt_tensor mlt_expand(mlt_tensor x, const int64_t* shape, int ndim);
MLT_API mlt_tensor mlt_unsqueeze(mlt_tensor x, int64_t dim);
MLT_API mlt_tensor mlt_squeeze(mlt_tensor x, int64_t dim, int all);
MLT_API mlt_tensor mlt_index_select(mlt_tensor x, int64_t dim, mlt_tensor index);
MLT_API mlt_tensor mlt_narrow(mlt_tensor x, int64_t dim, int64_t start, int64_t length);
MLT_API mlt_tensor mlt_select(mlt_tensor x, int64_t dim, int64_t index);
MLT_API mlt_tensor mlt_cat(mlt_tensor* xs, int n, int64_t dim);
MLT_API mlt_tensor mlt_stack(mlt_tensor* xs, int n, int64_t dim);
/* split by sizes (nsizes>0) or into equal pieces of `size`; chunks: `size` = number of chunks.
   mode 0 split_with_sizes, 1 split(size), 2 chunk. Writes up to cap handles, returns count. */
MLT_API int mlt_split(mlt_tensor x, int mode, int64_t size, const int64_t* sizes, int nsizes, int64_t dim,
                      mlt_tensor* out, int cap);
MLT_API mlt_tensor mlt_one_hot(mlt_tensor labels, int64_t num_classes);

/* ---- linear algebra, convolution ---- */
MLT_API mlt_tensor mlt_matmul(mlt_tensor a, mlt_tensor b);
MLT_API mlt_tensor mlt_bmm(mlt_tensor a, mlt_tensor b);
MLT_API mlt_tensor mlt_linear(mlt_tensor x, mlt_tensor w, mlt_tensor b);
MLT_API mlt_tensor mlt_conv2d(mlt_tensor x, mlt_tensor w, mlt_tensor b, const int64_t* stride, const int64_t* padding,
                              const int64_t* dilation, int64_t groups);
MLT_API mlt_tensor mlt_conv1d(mlt_tensor x, mlt_tensor w, mlt_tensor b, int64_t stride, int64_t padding,
                              int64_t dilation, int64_t groups);

/* ---- normalisation, dropout ---- */
MLT_API mlt_tensor mlt_batch_norm(mlt_tensor x, mlt_tensor weight, mlt_tensor bias, mlt_tensor running_mean,
                                  mlt_tensor running_var, int training, double momentum, double eps);
MLT_API mlt_tensor mlt_layer_norm(mlt_tensor x, const int64_t* normalized_shape, int nshape, mlt_tensor weight,
                                  mlt_tensor bias, double eps);
MLT_API mlt_tensor mlt_group_norm(mlt_tensor x, int64_t groups, mlt_tensor weight, mlt_tensor bias, double eps);
MLT_API mlt_tensor mlt_dropout(mlt_tensor x, double p, int training);
MLT_API mlt_tensor mlt_softmax(mlt_tensor x, int64_t dim, int log);

/* ---- pooling, resampling, padding ---- */
MLT_API mlt_tensor mlt_max_pool2d(mlt_tensor x, const int64_t* kernel, const int64_t* stride, const int64_t* padding,
                                  const int64_t* dilation, int ceil_mode);
MLT_API mlt_tensor mlt_avg_pool2d(mlt_tensor x, const int64_t* kernel, const int64_t* stride, const int64_t* padding,
                                  int ceil_mode, int count_include_pad);
MLT_API mlt_tensor mlt_adaptive_pool2d(mlt_tensor x, int64_t out_h, int64_t out_w, int max);
/* mode 0 nearest, 1 bilinear; scale_h/scale_w <= 0: not given */
MLT_API mlt_tensor mlt_upsample2d(mlt_tensor x, int64_t out_h, int64_t out_w, int mode, int align_corners,
                                  double scale_h, double scale_w);
/* mode 0 constant, 1 reflect, 2 replicate, 3 circular */
MLT_API mlt_tensor mlt_pad(mlt_tensor x, const int64_t* pads, int npads, int mode, double value);

/* ---- losses ---- */
/* reduction: 0 none, 1 mean, 2 sum */
MLT_API mlt_tensor mlt_cross_entropy(mlt_tensor logits, mlt_tensor target, mlt_tensor weight, int reduction,
                                     int64_t ignore_index, double label_smoothing);
MLT_API mlt_tensor mlt_nll_loss(mlt_tensor logp, mlt_tensor target, mlt_tensor weight, int reduction, int64_t ignore_index);
MLT_API mlt_tensor mlt_mse_loss(mlt_tensor x, mlt_tensor y, int reduction);

/* ---- optimizers: one call updates every parameter; state tensors are owned by the caller ---- */
/* momentum_buffers[i] may be NULL on the first step; the new buffer handle is written back. use_foreach = 1: the
   multi-tensor form (torch._foreach_* over all parameters; fewer kernel launches on CUDA), same values. */
MLT_API int mlt_sgd_step(mlt_tensor* params, mlt_tensor* momentum_buffers, int n, double lr, double momentum,
                         double dampening, double weight_decay, int nesterov, int maximize, int use_foreach);
/* steps[i] counts the updates of parameter i (parameters without a grad are skipped, as in PyTorch);
   exp_avg/exp_avg_sq/max_exp_avg_sq entries may be NULL before the first step and are written back. use_foreach as
   for SGD. */
MLT_API int mlt_adamw_step(mlt_tensor* params, mlt_tensor* exp_avg, mlt_tensor* exp_avg_sq, mlt_tensor* max_exp_avg_sq,
                           int64_t* steps, int n, double lr, double beta1, double beta2, double eps,
                           double weight_decay, int amsgrad, int maximize, int use_foreach);

#ifdef __cplusplus
}
#endif
#endif
