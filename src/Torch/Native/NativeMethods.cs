using System.Runtime.InteropServices;

namespace MLNet.Attention.Torch.Native;

/// <summary>P/Invoke declarations of native/include/mlnet_torch.h (one line per C function).</summary>
internal static unsafe class NativeMethods
{
    internal const string Lib = "mlnet_torch";

    static NativeMethods() => NativeLibraryLoader.EnsureRegistered();

    [DllImport(Lib)] internal static extern IntPtr mlt_last_error();
    [DllImport(Lib)] internal static extern IntPtr mlt_version();
    [DllImport(Lib)] internal static extern int mlt_set_num_threads(int n);
    [DllImport(Lib)] internal static extern int mlt_get_num_threads();
    [DllImport(Lib)] internal static extern int mlt_manual_seed(ulong seed);
    [DllImport(Lib)] internal static extern int mlt_cuda_is_available();
    [DllImport(Lib)] internal static extern int mlt_cuda_device_count();
    [DllImport(Lib)] internal static extern int mlt_cuda_synchronize(int device);
    [DllImport(Lib)] internal static extern int mlt_set_grad_enabled(int enabled);
    [DllImport(Lib)] internal static extern int mlt_is_grad_enabled();
    [DllImport(Lib)] internal static extern IntPtr mlt_inference_mode_enter();
    [DllImport(Lib)] internal static extern int mlt_inference_mode_exit(IntPtr guard);
    [DllImport(Lib)] internal static extern IntPtr mlt_autocast_enter(int deviceType, int dtype, int enabled, int cacheEnabled);
    [DllImport(Lib)] internal static extern int mlt_autocast_exit(IntPtr scope);
    [DllImport(Lib)] internal static extern int mlt_autocast_is_enabled(int deviceType);
    [DllImport(Lib)] internal static extern int mlt_autocast_dtype(int deviceType);
    [DllImport(Lib)] internal static extern int mlt_get_allow_tf32();
    [DllImport(Lib)] internal static extern int mlt_set_allow_tf32(int cudnn, int cublas);
    [DllImport(Lib)] internal static extern int mlt_amp_unscale_(IntPtr* grads, int n, TensorHandle foundInf, TensorHandle invScale, int allowFused);

    [DllImport(Lib)] internal static extern int mlt_free(IntPtr t);
    [DllImport(Lib)] internal static extern IntPtr mlt_from_data(void* data, long* shape, int ndim, int dtype, int devType, int devIndex, int requiresGrad);
    [DllImport(Lib)] internal static extern IntPtr mlt_empty(long* shape, int ndim, int dtype, int devType, int devIndex);
    [DllImport(Lib)] internal static extern IntPtr mlt_full(long* shape, int ndim, double value, int dtype, int devType, int devIndex, int requiresGrad);
    [DllImport(Lib)] internal static extern IntPtr mlt_rand(long* shape, int ndim, int normal, int dtype, int devType, int devIndex);
    [DllImport(Lib)] internal static extern IntPtr mlt_arange(double start, double end, double step, int dtype, int devType, int devIndex);
    [DllImport(Lib)] internal static extern int mlt_copy_to(TensorHandle t, void* dst, long nbytes);
    [DllImport(Lib)] internal static extern IntPtr mlt_data_ptr(TensorHandle t);
    [DllImport(Lib)] internal static extern int mlt_dim(TensorHandle t);
    [DllImport(Lib)] internal static extern int mlt_shape(TensorHandle t, long* output, int cap);
    [DllImport(Lib)] internal static extern int mlt_strides(TensorHandle t, long* output, int cap);
    [DllImport(Lib)] internal static extern int mlt_dtype(TensorHandle t);
    [DllImport(Lib)] internal static extern int mlt_device_type(TensorHandle t);
    [DllImport(Lib)] internal static extern int mlt_device_index(TensorHandle t);
    [DllImport(Lib)] internal static extern long mlt_numel(TensorHandle t);
    [DllImport(Lib)] internal static extern int mlt_is_contiguous(TensorHandle t);
    [DllImport(Lib)] internal static extern int mlt_requires_grad(TensorHandle t);
    [DllImport(Lib)] internal static extern int mlt_set_requires_grad(TensorHandle t, int requiresGrad);
    [DllImport(Lib)] internal static extern int mlt_is_leaf(TensorHandle t);
    [DllImport(Lib)] internal static extern int mlt_item(TensorHandle t, double* output);
    [DllImport(Lib)] internal static extern IntPtr mlt_to(TensorHandle t, int devType, int devIndex, int dtype, int nonBlocking, int copy);
    [DllImport(Lib)] internal static extern IntPtr mlt_pin_memory(TensorHandle t);
    [DllImport(Lib)] internal static extern IntPtr mlt_contiguous(TensorHandle t, int channelsLast);
    [DllImport(Lib)] internal static extern IntPtr mlt_clone(TensorHandle t);
    [DllImport(Lib)] internal static extern IntPtr mlt_detach(TensorHandle t);
    [DllImport(Lib)] internal static extern IntPtr mlt_alias(TensorHandle t);
    [DllImport(Lib)] internal static extern int mlt_set_data(TensorHandle t, TensorHandle data);

    [DllImport(Lib)] internal static extern int mlt_backward(TensorHandle t, TensorHandle grad, int retainGraph);
    [DllImport(Lib)] internal static extern IntPtr mlt_grad(TensorHandle t);
    [DllImport(Lib)] internal static extern int mlt_set_grad(TensorHandle t, TensorHandle grad);
    [DllImport(Lib)] internal static extern int mlt_zero_grad(IntPtr* ps, int n, int setToNone);
    [DllImport(Lib)] internal static extern int mlt_clip_grad_norm(IntPtr* ps, int n, double maxNorm, double normType, double* total);

    [DllImport(Lib)] internal static extern int mlt_uniform_(TensorHandle t, double low, double high);
    [DllImport(Lib)] internal static extern int mlt_normal_(TensorHandle t, double mean, double std);
    [DllImport(Lib)] internal static extern int mlt_fill_(TensorHandle t, double value);
    [DllImport(Lib)] internal static extern int mlt_copy_(TensorHandle dst, TensorHandle src);

    [DllImport(Lib)] internal static extern IntPtr mlt_unary(int op, TensorHandle x);
    [DllImport(Lib)] internal static extern int mlt_unary_(int op, TensorHandle x);
    [DllImport(Lib)] internal static extern IntPtr mlt_leaky_relu(TensorHandle x, double slope);
    [DllImport(Lib)] internal static extern IntPtr mlt_binary(int op, TensorHandle a, TensorHandle b, double alpha);
    [DllImport(Lib)] internal static extern int mlt_binary_(int op, TensorHandle a, TensorHandle b, double alpha);
    [DllImport(Lib)] internal static extern IntPtr mlt_binary_scalar(int op, TensorHandle a, double s, int reverse);
    [DllImport(Lib)] internal static extern int mlt_binary_scalar_(int op, TensorHandle a, double s);
    [DllImport(Lib)] internal static extern IntPtr mlt_clamp(TensorHandle x, double min, double max, int hasMin, int hasMax);
    [DllImport(Lib)] internal static extern IntPtr mlt_where(TensorHandle cond, TensorHandle a, TensorHandle b);
    [DllImport(Lib)] internal static extern IntPtr mlt_masked_fill(TensorHandle x, TensorHandle mask, double value);

    [DllImport(Lib)] internal static extern IntPtr mlt_reduce(int op, TensorHandle x, long* dims, int ndims, int keepdim);
    [DllImport(Lib)] internal static extern int mlt_reduce_with_indices(int op, TensorHandle x, long dim, int keepdim, IntPtr* values, IntPtr* indices);
    [DllImport(Lib)] internal static extern IntPtr mlt_argmax(TensorHandle x, long dim, int hasDim, int keepdim);
    [DllImport(Lib)] internal static extern int mlt_topk(TensorHandle x, long k, long dim, int largest, int sorted, IntPtr* values, IntPtr* indices);
    [DllImport(Lib)] internal static extern IntPtr mlt_norm(TensorHandle x, double p);

    [DllImport(Lib)] internal static extern IntPtr mlt_view(TensorHandle x, long* shape, int ndim);
    [DllImport(Lib)] internal static extern IntPtr mlt_reshape(TensorHandle x, long* shape, int ndim);
    [DllImport(Lib)] internal static extern IntPtr mlt_permute(TensorHandle x, long* dims, int ndim);
    [DllImport(Lib)] internal static extern IntPtr mlt_transpose(TensorHandle x, long d0, long d1);
    [DllImport(Lib)] internal static extern IntPtr mlt_flatten(TensorHandle x, long start, long end);
    [DllImport(Lib)] internal static extern IntPtr mlt_expand(TensorHandle x, long* shape, int ndim);
    [DllImport(Lib)] internal static extern IntPtr mlt_unsqueeze(TensorHandle x, long dim);
    [DllImport(Lib)] internal static extern IntPtr mlt_squeeze(TensorHandle x, long dim, int all);
    [DllImport(Lib)] internal static extern IntPtr mlt_index_select(TensorHandle x, long dim, TensorHandle index);
    [DllImport(Lib)] internal static extern IntPtr mlt_narrow(TensorHandle x, long dim, long start, long length);
    [DllImport(Lib)] internal static extern IntPtr mlt_select(TensorHandle x, long dim, long index);
    [DllImport(Lib)] internal static extern IntPtr mlt_cat(IntPtr* xs, int n, long dim);
    [DllImport(Lib)] internal static extern IntPtr mlt_stack(IntPtr* xs, int n, long dim);
    [DllImport(Lib)] internal static extern int mlt_split(TensorHandle x, int mode, long size, long* sizes, int nsizes, long dim, IntPtr* output, int cap);
    [DllImport(Lib)] internal static extern IntPtr mlt_one_hot(TensorHandle labels, long numClasses);

    [DllImport(Lib)] internal static extern IntPtr mlt_matmul(TensorHandle a, TensorHandle b);
    [DllImport(Lib)] internal static extern IntPtr mlt_bmm(TensorHandle a, TensorHandle b);
    [DllImport(Lib)] internal static extern IntPtr mlt_linear(TensorHandle x, TensorHandle w, TensorHandle b);
    [DllImport(Lib)] internal static extern IntPtr mlt_conv2d(TensorHandle x, TensorHandle w, TensorHandle b, long* stride, long* padding, long* dilation, long groups);
    [DllImport(Lib)] internal static extern IntPtr mlt_conv1d(TensorHandle x, TensorHandle w, TensorHandle b, long stride, long padding, long dilation, long groups);

    [DllImport(Lib)] internal static extern IntPtr mlt_batch_norm(TensorHandle x, TensorHandle w, TensorHandle b, TensorHandle rm, TensorHandle rv, int training, double momentum, double eps);
    [DllImport(Lib)] internal static extern IntPtr mlt_layer_norm(TensorHandle x, long* shape, int n, TensorHandle w, TensorHandle b, double eps);
    [DllImport(Lib)] internal static extern IntPtr mlt_group_norm(TensorHandle x, long groups, TensorHandle w, TensorHandle b, double eps);
    [DllImport(Lib)] internal static extern IntPtr mlt_dropout(TensorHandle x, double p, int training);
    [DllImport(Lib)] internal static extern IntPtr mlt_softmax(TensorHandle x, long dim, int log);

    [DllImport(Lib)] internal static extern IntPtr mlt_max_pool2d(TensorHandle x, long* kernel, long* stride, long* padding, long* dilation, int ceilMode);
    [DllImport(Lib)] internal static extern IntPtr mlt_avg_pool2d(TensorHandle x, long* kernel, long* stride, long* padding, int ceilMode, int countIncludePad);
    [DllImport(Lib)] internal static extern IntPtr mlt_adaptive_pool2d(TensorHandle x, long outH, long outW, int max);
    [DllImport(Lib)] internal static extern IntPtr mlt_upsample2d(TensorHandle x, long outH, long outW, int mode, int alignCorners, double scaleH, double scaleW);
    [DllImport(Lib)] internal static extern IntPtr mlt_pad(TensorHandle x, long* pads, int npads, int mode, double value);

    [DllImport(Lib)] internal static extern IntPtr mlt_cross_entropy(TensorHandle logits, TensorHandle target, TensorHandle weight, int reduction, long ignoreIndex, double labelSmoothing);
    [DllImport(Lib)] internal static extern IntPtr mlt_nll_loss(TensorHandle logp, TensorHandle target, TensorHandle weight, int reduction, long ignoreIndex);
    [DllImport(Lib)] internal static extern IntPtr mlt_mse_loss(TensorHandle x, TensorHandle y, int reduction);

    [DllImport(Lib)] internal static extern int mlt_sgd_step(IntPtr* ps, IntPtr* bufs, int n, double lr, double momentum, double dampening, double weightDecay, int nesterov, int maximize, int useForeach);
    [DllImport(Lib)] internal static extern int mlt_adamw_step(IntPtr* ps, IntPtr* expAvg, IntPtr* expAvgSq, IntPtr* maxExpAvgSq, long* steps, int n, double lr, double beta1, double beta2, double eps, double weightDecay, int amsgrad, int maximize, int useForeach);

    /// <summary>The thread's last native error message.</summary>
    internal static string LastError() => Marshal.PtrToStringUTF8(mlt_last_error()) ?? "";

    /// <summary>Throws <see cref="TorchException"/> when a native call returned an error code.</summary>
    internal static void Check(int rc)
    {
        if (rc < 0) throw new TorchException(LastError());
    }

    /// <summary>Throws when a native call returned a null handle.</summary>
    internal static IntPtr Check(IntPtr handle)
    {
        if (handle == IntPtr.Zero) throw new TorchException(LastError());
        return handle;
    }
}
