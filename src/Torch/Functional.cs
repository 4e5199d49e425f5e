using MLNet.Attention.Torch.Native;
using MLNet.Attention.Torch.Onnx;
using static MLNet.Attention.Torch.Native.NativeMethods;

namespace MLNet.Attention.Torch;

/// <summary>How a loss reduces over the batch (<c>reduction=</c> in PyTorch).</summary>
public enum Reduction
{
    /// <summary>One loss per element.</summary>
    None = 0,
    /// <summary>The (weighted) mean.</summary>
    Mean = 1,
    /// <summary>The sum.</summary>
    Sum = 2,
}

/// <summary>Interpolation mode of <see cref="Functional.Interpolate(Tensor, long, long, InterpolationMode, bool?)"/>.</summary>
public enum InterpolationMode
{
    /// <summary>Nearest neighbour (PyTorch's legacy 'nearest').</summary>
    Nearest = 0,
    /// <summary>Bilinear.</summary>
    Bilinear = 1,
}

/// <summary>Padding mode of <see cref="Functional.Pad"/>.</summary>
public enum PaddingMode
{
    /// <summary>A constant value.</summary>
    Constant = 0,
    /// <summary>Mirror without repeating the edge.</summary>
    Reflect = 1,
    /// <summary>Repeat the edge.</summary>
    Replicate = 2,
    /// <summary>Wrap around.</summary>
    Circular = 3,
}

/// <summary>The functions of <c>torch.nn.functional</c>, with the same arguments and defaults.</summary>
public static class Functional
{
    private static TensorHandle H(Tensor? t) => t?.Handle ?? TensorHandle.Null;

    private static long[] Pair(long[] v, string name)
    {
        ArgumentNullException.ThrowIfNull(v, name);
        return v.Length switch
        {
            1 => new[] { v[0], v[0] },
            2 => v,
            _ => throw new ArgumentException($"{name} takes 1 or 2 values, got {v.Length}", name),
        };
    }

    // ---------------- convolution, linear ----------------

    /// <summary>2-D convolution of (N,C,H,W) input with (O,C/groups,kH,kW) weight.</summary>
    public static unsafe Tensor Conv2d(Tensor input, Tensor weight, Tensor? bias = null, long[]? stride = null,
        long[]? padding = null, long[]? dilation = null, long groups = 1)
    {
        var s = Pair(stride ?? new long[] { 1 }, nameof(stride));
        var p = Pair(padding ?? new long[] { 0 }, nameof(padding));
        var d = Pair(dilation ?? new long[] { 1 }, nameof(dilation));
        Tensor y;
        fixed (long* ps = s, pp = p, pd = d)
            y = new Tensor(mlt_conv2d(input.Handle, weight.Handle, H(bias), ps, pp, pd, groups));
        OnnxTrace.Current?.Conv2d(y, input, weight, bias, s, p, d, groups);
        return y;
    }

    /// <summary>2-D convolution with square stride/padding/dilation.</summary>
    public static Tensor Conv2d(Tensor input, Tensor weight, Tensor? bias, long stride, long padding, long dilation = 1, long groups = 1) =>
        Conv2d(input, weight, bias, new[] { stride }, new[] { padding }, new[] { dilation }, groups);

    /// <summary>1-D convolution of (N,C,L) input with (O,C/groups,k) weight.</summary>
    public static Tensor Conv1d(Tensor input, Tensor weight, Tensor? bias = null, long stride = 1, long padding = 0, long dilation = 1, long groups = 1)
    {
        var y = new Tensor(mlt_conv1d(input.Handle, weight.Handle, H(bias), stride, padding, dilation, groups));
        OnnxTrace.Current?.Conv1d(y, input, weight, bias, stride, padding, dilation, groups);
        return y;
    }

    /// <summary>x·Wᵀ + b.</summary>
    public static Tensor Linear(Tensor input, Tensor weight, Tensor? bias = null)
    {
        var y = new Tensor(mlt_linear(input.Handle, weight.Handle, H(bias)));
        OnnxTrace.Current?.Linear(y, input, weight, bias);
        return y;
    }

    // ---------------- normalisation, dropout ----------------

    /// <summary>Batch normalisation; in training mode updates the running statistics in place.</summary>
    public static Tensor BatchNorm(Tensor input, Tensor? runningMean, Tensor? runningVar, Tensor? weight = null, Tensor? bias = null,
        bool training = false, double momentum = 0.1, double eps = 1e-5)
    {
        var y = new Tensor(mlt_batch_norm(input.Handle, H(weight), H(bias), H(runningMean), H(runningVar), training ? 1 : 0, momentum, eps));
        OnnxTrace.Current?.BatchNorm(y, input, runningMean, runningVar, weight, bias, training, eps);
        return y;
    }

    /// <summary>Layer normalisation over the trailing <paramref name="normalizedShape"/> dims.</summary>
    public static unsafe Tensor LayerNorm(Tensor input, long[] normalizedShape, Tensor? weight = null, Tensor? bias = null, double eps = 1e-5)
    {
        Tensor y;
        fixed (long* p = normalizedShape) y = new Tensor(mlt_layer_norm(input.Handle, p, normalizedShape.Length, H(weight), H(bias), eps));
        OnnxTrace.Current?.LayerNorm(y, input, normalizedShape, weight, bias, eps);
        return y;
    }

    /// <summary>Group normalisation.</summary>
    public static Tensor GroupNorm(Tensor input, long numGroups, Tensor? weight = null, Tensor? bias = null, double eps = 1e-5)
    {
        var y = new Tensor(mlt_group_norm(input.Handle, numGroups, H(weight), H(bias), eps));
        OnnxTrace.Current?.GroupNorm(y, input, numGroups, weight, bias, eps);
        return y;
    }

    /// <summary>Zeroes elements with probability <paramref name="p"/> and scales the rest by 1/(1-p) while training.</summary>
    public static Tensor Dropout(Tensor input, double p = 0.5, bool training = true)
    {
        var y = new Tensor(mlt_dropout(input.Handle, p, training ? 1 : 0));
        OnnxTrace.Current?.Dropout(y, input, p, training);
        return y;
    }

    // ---------------- activations ----------------

    /// <summary>max(x, 0).</summary>
    public static Tensor Relu(Tensor x) => x.Unary(UnaryOp.Relu);
    /// <summary>min(max(x, 0), 6).</summary>
    public static Tensor Relu6(Tensor x) => x.Unary(UnaryOp.Relu6);
    /// <summary>1/(1+e⁻ˣ).</summary>
    public static Tensor Sigmoid(Tensor x) => x.Unary(UnaryOp.Sigmoid);
    /// <summary>relu6(x+3)/6.</summary>
    public static Tensor Hardsigmoid(Tensor x) => x.Unary(UnaryOp.Hardsigmoid);
    /// <summary>x·relu6(x+3)/6.</summary>
    public static Tensor Hardswish(Tensor x) => x.Unary(UnaryOp.Hardswish);
    /// <summary>x·sigmoid(x).</summary>
    public static Tensor Silu(Tensor x) => x.Unary(UnaryOp.Silu);
    /// <summary>GELU, exact (erf) or with the tanh approximation.</summary>
    public static Tensor Gelu(Tensor x, bool tanhApproximation = false) => x.Unary(tanhApproximation ? UnaryOp.GeluTanh : UnaryOp.Gelu);
    /// <summary>tanh(x).</summary>
    public static Tensor Tanh(Tensor x) => x.Unary(UnaryOp.Tanh);
    /// <summary>max(x, slope·x).</summary>
    public static Tensor LeakyRelu(Tensor x, double negativeSlope = 0.01)
    {
        var y = new Tensor(mlt_leaky_relu(x.Handle, negativeSlope));
        OnnxTrace.Current?.LeakyRelu(y, x, negativeSlope);
        return y;
    }
    /// <summary>Softmax along <paramref name="dim"/>.</summary>
    public static Tensor Softmax(Tensor x, long dim) => SoftmaxCore(x, dim, false);
    /// <summary>log(softmax(x)) along <paramref name="dim"/>, computed stably.</summary>
    public static Tensor LogSoftmax(Tensor x, long dim) => SoftmaxCore(x, dim, true);

    private static Tensor SoftmaxCore(Tensor x, long dim, bool log)
    {
        var y = new Tensor(mlt_softmax(x.Handle, dim, log ? 1 : 0));
        OnnxTrace.Current?.Softmax(y, x, dim, log);
        return y;
    }

    // ---------------- pooling, resampling, padding ----------------

    /// <summary>2-D max pooling; stride defaults to the kernel size.</summary>
    public static unsafe Tensor MaxPool2d(Tensor input, long[] kernelSize, long[]? stride = null, long[]? padding = null,
        long[]? dilation = null, bool ceilMode = false)
    {
        var k = Pair(kernelSize, nameof(kernelSize));
        var s = stride is null || stride.Length == 0 ? k : Pair(stride, nameof(stride));
        var p = Pair(padding ?? new long[] { 0 }, nameof(padding));
        var d = Pair(dilation ?? new long[] { 1 }, nameof(dilation));
        Tensor y;
        fixed (long* pk = k, ps = s, pp = p, pd = d)
            y = new Tensor(mlt_max_pool2d(input.Handle, pk, ps, pp, pd, ceilMode ? 1 : 0));
        OnnxTrace.Current?.MaxPool2d(y, input, k, s, p, d, ceilMode);
        return y;
    }

    /// <summary>2-D max pooling with a square window.</summary>
    public static Tensor MaxPool2d(Tensor input, long kernelSize, long? stride = null, long padding = 0) =>
        MaxPool2d(input, new[] { kernelSize }, new[] { stride ?? kernelSize }, new[] { padding });

    /// <summary>2-D average pooling; stride defaults to the kernel size.</summary>
    public static unsafe Tensor AvgPool2d(Tensor input, long[] kernelSize, long[]? stride = null, long[]? padding = null,
        bool ceilMode = false, bool countIncludePad = true)
    {
        var k = Pair(kernelSize, nameof(kernelSize));
        var s = stride is null || stride.Length == 0 ? k : Pair(stride, nameof(stride));
        var p = Pair(padding ?? new long[] { 0 }, nameof(padding));
        Tensor y;
        fixed (long* pk = k, ps = s, pp = p)
            y = new Tensor(mlt_avg_pool2d(input.Handle, pk, ps, pp, ceilMode ? 1 : 0, countIncludePad ? 1 : 0));
        OnnxTrace.Current?.AvgPool2d(y, input, k, s, p, ceilMode, countIncludePad);
        return y;
    }

    /// <summary>2-D average pooling with a square window.</summary>
    public static Tensor AvgPool2d(Tensor input, long kernelSize, long? stride = null, long padding = 0) =>
        AvgPool2d(input, new[] { kernelSize }, new[] { stride ?? kernelSize }, new[] { padding });

    private static (long H, long W) AdaptiveSize(Tensor input, long? h, long? w)
    {
        var s = input.Shape;
        if (s.Length < 3) throw new ArgumentException($"adaptive pooling needs a (N,)C,H,W input, got shape [{string.Join(", ", s)}]", nameof(input));
        return (h ?? s[^2], w ?? s[^1]);
    }

    /// <summary>Adaptive average pooling to (h, w); a null side keeps the input size (PyTorch's <c>(None, 1)</c>).</summary>
    public static Tensor AdaptiveAvgPool2d(Tensor input, long? outputHeight, long? outputWidth)
    {
        var (h, w) = AdaptiveSize(input, outputHeight, outputWidth);
        var y = new Tensor(mlt_adaptive_pool2d(input.Handle, h, w, 0));
        OnnxTrace.Current?.AdaptivePool2d(y, input, h, w, max: false);
        return y;
    }

    /// <summary>Adaptive average pooling to a square size.</summary>
    public static Tensor AdaptiveAvgPool2d(Tensor input, long outputSize) => AdaptiveAvgPool2d(input, outputSize, outputSize);

    /// <summary>Adaptive max pooling to (h, w); a null side keeps the input size.</summary>
    public static Tensor AdaptiveMaxPool2d(Tensor input, long? outputHeight, long? outputWidth)
    {
        var (h, w) = AdaptiveSize(input, outputHeight, outputWidth);
        var y = new Tensor(mlt_adaptive_pool2d(input.Handle, h, w, 1));
        OnnxTrace.Current?.AdaptivePool2d(y, input, h, w, max: true);
        return y;
    }

    /// <summary>Adaptive max pooling to a square size.</summary>
    public static Tensor AdaptiveMaxPool2d(Tensor input, long outputSize) => AdaptiveMaxPool2d(input, outputSize, outputSize);

    /// <summary>Resizes a (N,C,H,W) tensor to an explicit size (<c>F.interpolate(size=...)</c>).</summary>
    public static Tensor Interpolate(Tensor input, long height, long width, InterpolationMode mode = InterpolationMode.Nearest, bool? alignCorners = null)
    {
        if (mode == InterpolationMode.Nearest && alignCorners is not null)
            throw new ArgumentException("alignCorners only applies to bilinear interpolation (as in PyTorch)", nameof(alignCorners));
        var y = new Tensor(mlt_upsample2d(input.Handle, height, width, (int)mode, alignCorners == true ? 1 : 0, 0, 0));
        OnnxTrace.Current?.Interpolate(y, input, mode, alignCorners == true, 0, 0);
        return y;
    }

    /// <summary>Resizes a (N,C,H,W) tensor by scale factors (<c>F.interpolate(scale_factor=...)</c>, recompute_scale_factor unset).</summary>
    public static Tensor Interpolate(Tensor input, double scaleHeight, double scaleWidth, InterpolationMode mode = InterpolationMode.Nearest, bool? alignCorners = null)
    {
        if (!(scaleHeight > 0) || !(scaleWidth > 0)) throw new ArgumentOutOfRangeException(nameof(scaleHeight), "scale factors must be > 0");
        if (mode == InterpolationMode.Nearest && alignCorners is not null)
            throw new ArgumentException("alignCorners only applies to bilinear interpolation (as in PyTorch)", nameof(alignCorners));
        var s = input.Shape;
        if (s.Length != 4) throw new ArgumentException($"Interpolate expects a 4-D (N,C,H,W) input, got shape [{string.Join(", ", s)}]", nameof(input));
        long h = (long)Math.Floor(s[2] * scaleHeight), w = (long)Math.Floor(s[3] * scaleWidth);
        var y = new Tensor(mlt_upsample2d(input.Handle, h, w, (int)mode, alignCorners == true ? 1 : 0, scaleHeight, scaleWidth));
        OnnxTrace.Current?.Interpolate(y, input, mode, alignCorners == true, scaleHeight, scaleWidth);
        return y;
    }

    /// <summary>Pads the last dims: <paramref name="pads"/> = (left, right, top, bottom, …) as in PyTorch.</summary>
    public static unsafe Tensor Pad(Tensor input, long[] pads, PaddingMode mode = PaddingMode.Constant, double value = 0)
    {
        ArgumentNullException.ThrowIfNull(pads);
        if (pads.Length == 0 || pads.Length % 2 != 0)
            throw new ArgumentException($"pads must hold an even, non-zero number of values, got {pads.Length}", nameof(pads));
        Tensor y;
        fixed (long* p = pads) y = new Tensor(mlt_pad(input.Handle, p, pads.Length, (int)mode, value));
        OnnxTrace.Current?.Pad(y, input, pads, mode, value);
        return y;
    }

    // ---------------- losses ----------------

    /// <summary>Cross entropy of logits (N,C[,…]) against class indices (int64) with optional class weights and label smoothing.</summary>
    public static Tensor CrossEntropy(Tensor input, Tensor target, Tensor? weight = null, Reduction reduction = Reduction.Mean,
        long ignoreIndex = -100, double labelSmoothing = 0.0)
    {
        if (labelSmoothing < 0 || labelSmoothing > 1)
            throw new ArgumentOutOfRangeException(nameof(labelSmoothing), labelSmoothing, "label smoothing must be in [0, 1]");
        OnnxTrace.Current?.Unmapped("Functional.CrossEntropy");
        return new Tensor(mlt_cross_entropy(input.Handle, target.Handle, H(weight), (int)reduction, ignoreIndex, labelSmoothing));
    }

    /// <summary>Negative log-likelihood of log-probabilities against class indices.</summary>
    public static Tensor NllLoss(Tensor input, Tensor target, Tensor? weight = null, Reduction reduction = Reduction.Mean, long ignoreIndex = -100) =>
        OnnxTrace.Current is { } t ? throw t.Unexportable("Functional.NllLoss") : new(mlt_nll_loss(input.Handle, target.Handle, H(weight), (int)reduction, ignoreIndex));

    /// <summary>Mean squared error.</summary>
    public static Tensor MseLoss(Tensor input, Tensor target, Reduction reduction = Reduction.Mean) =>
        OnnxTrace.Current is { } t ? throw t.Unexportable("Functional.MseLoss") : new(mlt_mse_loss(input.Handle, target.Handle, (int)reduction));

    /// <summary>One-hot encoding of int64 class indices.</summary>
    public static Tensor OneHot(Tensor labels, long numClasses = -1) =>
        OnnxTrace.Current is { } t ? throw t.Unexportable("Functional.OneHot") : new(mlt_one_hot(labels.Handle, numClasses));
}
