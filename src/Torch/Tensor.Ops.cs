using MLNet.Attention.Torch.Native;
using MLNet.Attention.Torch.Onnx;
using static MLNet.Attention.Torch.Native.NativeMethods;

namespace MLNet.Attention.Torch;

internal enum UnaryOp
{
    Relu = 0, Relu6 = 1, Sigmoid = 2, Hardsigmoid = 3, Hardswish = 4, Silu = 5, Gelu = 6, GeluTanh = 7,
    Tanh = 8, Exp = 9, Log = 10, Sqrt = 11, Neg = 12, Abs = 13, Rsqrt = 14, Square = 15, Reciprocal = 16,
    IsNan = 17, IsFinite = 18, LogicalNot = 19,
}

internal enum BinaryOp
{
    Add = 0, Sub = 1, Mul = 2, Div = 3, Pow = 4, Maximum = 5, Minimum = 6, Eq = 7, Ne = 8, Lt = 9, Le = 10,
    Gt = 11, Ge = 12, Remainder = 13,
}

public sealed partial class Tensor
{
    // Each op reports itself to an open ONNX trace (OnnxTrace.Current) after it ran; in-place ops name their input's
    // value first (a constant made in the forward pass is captured before it changes).
    internal Tensor Unary(UnaryOp op)
    {
        var y = new Tensor(mlt_unary((int)op, Handle));
        OnnxTrace.Current?.Unary(op, this, y);
        return y;
    }

    internal Tensor UnaryInPlace(UnaryOp op)
    {
        var trace = OnnxTrace.Current;
        trace?.In(this);
        Check(mlt_unary_((int)op, Handle));
        trace?.Unary(op, this, this);
        return this;
    }

    internal Tensor Binary(BinaryOp op, Tensor other, double alpha = 1)
    {
        var y = new Tensor(mlt_binary((int)op, Handle, other.Handle, alpha));
        OnnxTrace.Current?.Binary(op, this, other, alpha, y, y.DType);
        return y;
    }

    internal Tensor BinaryInPlace(BinaryOp op, Tensor other, double alpha = 1)
    {
        var trace = OnnxTrace.Current;
        trace?.In(this);
        Check(mlt_binary_((int)op, Handle, other.Handle, alpha));
        trace?.Binary(op, this, other, alpha, this, DType);
        return this;
    }

    internal Tensor Scalar(BinaryOp op, double s, bool reverse = false)
    {
        var y = new Tensor(mlt_binary_scalar((int)op, Handle, s, reverse ? 1 : 0));
        OnnxTrace.Current?.Scalar(op, this, s, reverse, y, y.DType);
        return y;
    }

    internal Tensor ScalarInPlace(BinaryOp op, double s)
    {
        var trace = OnnxTrace.Current;
        trace?.In(this);
        Check(mlt_binary_scalar_((int)op, Handle, s));
        trace?.Scalar(op, this, s, false, this, DType);
        return this;
    }

    // ---------------- arithmetic (broadcasting) ----------------

    /// <summary>this + alpha·other.</summary>
    public Tensor Add(Tensor other, double alpha = 1) => Binary(BinaryOp.Add, other, alpha);
    /// <summary>this + s.</summary>
    public Tensor Add(double s) => Scalar(BinaryOp.Add, s);
    /// <summary>this − alpha·other.</summary>
    public Tensor Sub(Tensor other, double alpha = 1) => Binary(BinaryOp.Sub, other, alpha);
    /// <summary>this − s.</summary>
    public Tensor Sub(double s) => Scalar(BinaryOp.Sub, s);
    /// <summary>Elementwise product.</summary>
    public Tensor Mul(Tensor other) => Binary(BinaryOp.Mul, other);
    /// <summary>this · s.</summary>
    public Tensor Mul(double s) => Scalar(BinaryOp.Mul, s);
    /// <summary>Elementwise quotient.</summary>
    public Tensor Div(Tensor other) => Binary(BinaryOp.Div, other);
    /// <summary>this / s.</summary>
    public Tensor Div(double s) => Scalar(BinaryOp.Div, s);
    /// <summary>Elementwise power.</summary>
    public Tensor Pow(Tensor exponent) => Binary(BinaryOp.Pow, exponent);
    /// <summary>this ^ s.</summary>
    public Tensor Pow(double s) => Scalar(BinaryOp.Pow, s);
    /// <summary>Elementwise maximum.</summary>
    public Tensor Maximum(Tensor other) => Binary(BinaryOp.Maximum, other);
    /// <summary>Elementwise minimum.</summary>
    public Tensor Minimum(Tensor other) => Binary(BinaryOp.Minimum, other);
    /// <summary>Python-style remainder.</summary>
    public Tensor Remainder(double s) => Scalar(BinaryOp.Remainder, s);

    /// <summary>In place: this += alpha·other.</summary>
    public Tensor Add_(Tensor other, double alpha = 1) => BinaryInPlace(BinaryOp.Add, other, alpha);
    /// <summary>In place: this += s.</summary>
    public Tensor Add_(double s) => ScalarInPlace(BinaryOp.Add, s);
    /// <summary>In place: this −= alpha·other.</summary>
    public Tensor Sub_(Tensor other, double alpha = 1) => BinaryInPlace(BinaryOp.Sub, other, alpha);
    /// <summary>In place: this −= s.</summary>
    public Tensor Sub_(double s) => ScalarInPlace(BinaryOp.Sub, s);
    /// <summary>In place: this *= other.</summary>
    public Tensor Mul_(Tensor other) => BinaryInPlace(BinaryOp.Mul, other);
    /// <summary>In place: this *= s.</summary>
    public Tensor Mul_(double s) => ScalarInPlace(BinaryOp.Mul, s);
    /// <summary>In place: this /= other.</summary>
    public Tensor Div_(Tensor other) => BinaryInPlace(BinaryOp.Div, other);
    /// <summary>In place: this /= s.</summary>
    public Tensor Div_(double s) => ScalarInPlace(BinaryOp.Div, s);
    /// <summary>In place: this = this ^ s.</summary>
    public Tensor Pow_(double s) => ScalarInPlace(BinaryOp.Pow, s);
    /// <summary>In place: clamp from below.</summary>
    public Tensor ClampMin_(double min) => ScalarInPlace(BinaryOp.Maximum, min);
    /// <summary>In place: clamp from above.</summary>
    public Tensor ClampMax_(double max) => ScalarInPlace(BinaryOp.Minimum, max);

    /// <summary>Clamps into [min, max]; either bound may be omitted.</summary>
    public Tensor Clamp(double? min = null, double? max = null)
    {
        var y = new Tensor(mlt_clamp(Handle, min ?? 0, max ?? 0, min.HasValue ? 1 : 0, max.HasValue ? 1 : 0));
        OnnxTrace.Current?.Clamp(y, this, min, max);
        return y;
    }

    /// <summary>Replaces the elements where <paramref name="mask"/> is true by <paramref name="value"/>.</summary>
    public Tensor MaskedFill(Tensor mask, double value)
    {
        var y = new Tensor(mlt_masked_fill(Handle, mask.Handle, value));
        OnnxTrace.Current?.MaskedFill(y, this, mask, value);
        return y;
    }

    /// <summary>Elementwise ==.</summary>
    public Tensor Eq(Tensor other) => Binary(BinaryOp.Eq, other);
    /// <summary>Elementwise == s.</summary>
    public Tensor Eq(double s) => Scalar(BinaryOp.Eq, s);
    /// <summary>Elementwise !=.</summary>
    public Tensor Ne(Tensor other) => Binary(BinaryOp.Ne, other);
    /// <summary>Elementwise &lt;.</summary>
    public Tensor Lt(Tensor other) => Binary(BinaryOp.Lt, other);
    /// <summary>Elementwise &lt; s.</summary>
    public Tensor Lt(double s) => Scalar(BinaryOp.Lt, s);
    /// <summary>Elementwise &lt;=.</summary>
    public Tensor Le(Tensor other) => Binary(BinaryOp.Le, other);
    /// <summary>Elementwise &gt;.</summary>
    public Tensor Gt(Tensor other) => Binary(BinaryOp.Gt, other);
    /// <summary>Elementwise &gt; s.</summary>
    public Tensor Gt(double s) => Scalar(BinaryOp.Gt, s);
    /// <summary>Elementwise &gt;=.</summary>
    public Tensor Ge(Tensor other) => Binary(BinaryOp.Ge, other);

    /// <summary>a + b.</summary>
    public static Tensor operator +(Tensor a, Tensor b) => a.Add(b);
    /// <summary>a + s.</summary>
    public static Tensor operator +(Tensor a, double s) => a.Add(s);
    /// <summary>s + a.</summary>
    public static Tensor operator +(double s, Tensor a) => a.Add(s);
    /// <summary>a − b.</summary>
    public static Tensor operator -(Tensor a, Tensor b) => a.Sub(b);
    /// <summary>a − s.</summary>
    public static Tensor operator -(Tensor a, double s) => a.Sub(s);
    /// <summary>s − a.</summary>
    public static Tensor operator -(double s, Tensor a) => a.Scalar(BinaryOp.Sub, s, reverse: true);
    /// <summary>−a.</summary>
    public static Tensor operator -(Tensor a) => a.Neg();
    /// <summary>a · b (elementwise).</summary>
    public static Tensor operator *(Tensor a, Tensor b) => a.Mul(b);
    /// <summary>a · s.</summary>
    public static Tensor operator *(Tensor a, double s) => a.Mul(s);
    /// <summary>s · a.</summary>
    public static Tensor operator *(double s, Tensor a) => a.Mul(s);
    /// <summary>a / b (elementwise).</summary>
    public static Tensor operator /(Tensor a, Tensor b) => a.Div(b);
    /// <summary>a / s.</summary>
    public static Tensor operator /(Tensor a, double s) => a.Div(s);
    /// <summary>s / a.</summary>
    public static Tensor operator /(double s, Tensor a) => a.Scalar(BinaryOp.Div, s, reverse: true);

    // ---------------- unary ----------------

    /// <summary>max(x, 0).</summary>
    public Tensor Relu() => Unary(UnaryOp.Relu);
    /// <summary>In place max(x, 0).</summary>
    public Tensor Relu_() => UnaryInPlace(UnaryOp.Relu);
    /// <summary>Logistic sigmoid.</summary>
    public Tensor Sigmoid() => Unary(UnaryOp.Sigmoid);
    /// <summary>In place sigmoid.</summary>
    public Tensor Sigmoid_() => UnaryInPlace(UnaryOp.Sigmoid);
    /// <summary>Hyperbolic tangent.</summary>
    public Tensor Tanh() => Unary(UnaryOp.Tanh);
    /// <summary>eˣ.</summary>
    public Tensor Exp() => Unary(UnaryOp.Exp);
    /// <summary>Natural logarithm.</summary>
    public Tensor Log() => Unary(UnaryOp.Log);
    /// <summary>Square root.</summary>
    public Tensor Sqrt() => Unary(UnaryOp.Sqrt);
    /// <summary>1/√x.</summary>
    public Tensor Rsqrt() => Unary(UnaryOp.Rsqrt);
    /// <summary>x².</summary>
    public Tensor Square() => Unary(UnaryOp.Square);
    /// <summary>1/x.</summary>
    public Tensor Reciprocal() => Unary(UnaryOp.Reciprocal);
    /// <summary>−x.</summary>
    public Tensor Neg() => Unary(UnaryOp.Neg);
    /// <summary>|x|.</summary>
    public Tensor Abs() => Unary(UnaryOp.Abs);
    /// <summary>True where NaN.</summary>
    public Tensor IsNan() => Unary(UnaryOp.IsNan);
    /// <summary>True where finite.</summary>
    public Tensor IsFinite() => Unary(UnaryOp.IsFinite);
    /// <summary>Logical not.</summary>
    public Tensor LogicalNot() => Unary(UnaryOp.LogicalNot);

    // ---------------- reductions ----------------

    private unsafe Tensor Reduce(int op, long[]? dims, bool keepDim)
    {
        dims ??= Array.Empty<long>();
        Tensor y;
        fixed (long* p = dims) y = new(mlt_reduce(op, Handle, p, dims.Length, keepDim ? 1 : 0));
        OnnxTrace.Current?.Reduce(y, this, op, dims, keepDim);
        return y;
    }

    /// <summary>Sum of all elements.</summary>
    public Tensor Sum() => Reduce(0, null, false);
    /// <summary>Sum over <paramref name="dims"/>.</summary>
    public Tensor Sum(long[] dims, bool keepDim = false) => Reduce(0, dims, keepDim);
    /// <summary>Sum over one dim.</summary>
    public Tensor Sum(long dim, bool keepDim = false) => Reduce(0, new[] { dim }, keepDim);
    /// <summary>Mean of all elements.</summary>
    public Tensor Mean() => Reduce(1, null, false);
    /// <summary>Mean over <paramref name="dims"/>.</summary>
    public Tensor Mean(long[] dims, bool keepDim = false) => Reduce(1, dims, keepDim);
    /// <summary>Mean over one dim.</summary>
    public Tensor Mean(long dim, bool keepDim = false) => Reduce(1, new[] { dim }, keepDim);
    /// <summary>Maximum over <paramref name="dims"/> (all when empty), values only.</summary>
    public Tensor Amax(long[]? dims = null, bool keepDim = false) => Reduce(2, dims, keepDim);
    /// <summary>Minimum over <paramref name="dims"/> (all when empty), values only.</summary>
    public Tensor Amin(long[]? dims = null, bool keepDim = false) => Reduce(3, dims, keepDim);
    /// <summary>Unbiased standard deviation over <paramref name="dims"/> (all when null).</summary>
    public Tensor Std(long[]? dims = null, bool keepDim = false) => Reduce(5, dims, keepDim);
    /// <summary>Unbiased variance over <paramref name="dims"/> (all when null).</summary>
    public Tensor Var(long[]? dims = null, bool keepDim = false) => Reduce(6, dims, keepDim);
    /// <summary>Maximum of all elements.</summary>
    public Tensor Max() => Reduce(2, null, false);
    /// <summary>Minimum of all elements.</summary>
    public Tensor Min() => Reduce(3, null, false);

    /// <summary>Maximum along <paramref name="dim"/>: values and their indices.</summary>
    public unsafe (Tensor Values, Tensor Indices) Max(long dim, bool keepDim = false)
    {
        IntPtr v, i;
        Check(mlt_reduce_with_indices(0, Handle, dim, keepDim ? 1 : 0, &v, &i));
        var r = (new Tensor(v), new Tensor(i));
        OnnxTrace.Current?.ReduceWithIndices(r.Item1, r.Item2, this, max: true, dim, keepDim);
        return r;
    }

    /// <summary>Minimum along <paramref name="dim"/>: values and their indices.</summary>
    public unsafe (Tensor Values, Tensor Indices) Min(long dim, bool keepDim = false)
    {
        IntPtr v, i;
        Check(mlt_reduce_with_indices(1, Handle, dim, keepDim ? 1 : 0, &v, &i));
        var r = (new Tensor(v), new Tensor(i));
        OnnxTrace.Current?.ReduceWithIndices(r.Item1, r.Item2, this, max: false, dim, keepDim);
        return r;
    }

    /// <summary>Index of the maximum along <paramref name="dim"/> (of the flattened tensor when null).</summary>
    public Tensor ArgMax(long? dim = null, bool keepDim = false)
    {
        var y = new Tensor(mlt_argmax(Handle, dim ?? 0, dim.HasValue ? 1 : 0, keepDim ? 1 : 0));
        OnnxTrace.Current?.ArgMax(y, this, dim, keepDim);
        return y;
    }

    /// <summary>The <paramref name="k"/> largest (or smallest) elements along <paramref name="dim"/>.</summary>
    public unsafe (Tensor Values, Tensor Indices) TopK(long k, long dim = -1, bool largest = true, bool sorted = true)
    {
        OnnxTrace.Current?.Unmapped("Tensor.TopK");
        IntPtr v, i;
        Check(mlt_topk(Handle, k, dim, largest ? 1 : 0, sorted ? 1 : 0, &v, &i));
        return (new Tensor(v), new Tensor(i));
    }

    /// <summary>The p-norm of all elements.</summary>
    public Tensor Norm(double p = 2) => OnnxTrace.Current is { } t ? throw t.Unexportable("Tensor.Norm") : new(mlt_norm(Handle, p));

    // ---------------- shape ----------------

    /// <summary>The same data seen with another shape (one dim may be -1); needs compatible strides.</summary>
    public unsafe Tensor View(params long[] shape)
    {
        Tensor y;
        fixed (long* p = shape) y = new(mlt_view(Handle, p, shape.Length));
        OnnxTrace.Current?.Reshape(y, this, shape, "Tensor.View");
        return y;
    }
    /// <summary>Another shape, copying only when a view is impossible.</summary>
    public unsafe Tensor Reshape(params long[] shape)
    {
        Tensor y;
        fixed (long* p = shape) y = new(mlt_reshape(Handle, p, shape.Length));
        OnnxTrace.Current?.Reshape(y, this, shape, "Tensor.Reshape");
        return y;
    }
    /// <summary>Reorders the dimensions.</summary>
    public unsafe Tensor Permute(params long[] dims)
    {
        Tensor y;
        fixed (long* p = dims) y = new(mlt_permute(Handle, p, dims.Length));
        OnnxTrace.Current?.Permute(y, this, dims);
        return y;
    }
    /// <summary>Swaps two dimensions.</summary>
    public Tensor Transpose(long dim0, long dim1)
    {
        var y = new Tensor(mlt_transpose(Handle, dim0, dim1));
        OnnxTrace.Current?.Transpose(y, this, dim0, dim1);
        return y;
    }
    /// <summary>Merges dims <paramref name="startDim"/>..<paramref name="endDim"/> into one.</summary>
    public Tensor Flatten(long startDim = 0, long endDim = -1)
    {
        var y = new Tensor(mlt_flatten(Handle, startDim, endDim));
        OnnxTrace.Current?.ReshapeToOutput(y, this, "Tensor.Flatten");
        return y;
    }
    /// <summary>Broadcasts size-1 dims to <paramref name="shape"/> (-1 keeps a size) without copying.</summary>
    public unsafe Tensor Expand(params long[] shape)
    {
        Tensor y;
        fixed (long* p = shape) y = new(mlt_expand(Handle, p, shape.Length));
        OnnxTrace.Current?.Expand(y, this);
        return y;
    }
    /// <summary>Inserts a size-1 dim.</summary>
    public Tensor Unsqueeze(long dim)
    {
        var y = new Tensor(mlt_unsqueeze(Handle, dim));
        OnnxTrace.Current?.Unsqueeze(y, this, dim);
        return y;
    }
    /// <summary>Removes a size-1 dim.</summary>
    public Tensor Squeeze(long dim)
    {
        var y = new Tensor(mlt_squeeze(Handle, dim, 0));
        OnnxTrace.Current?.Squeeze(y, this, dim);
        return y;
    }
    /// <summary>Removes every size-1 dim.</summary>
    public Tensor Squeeze()
    {
        var y = new Tensor(mlt_squeeze(Handle, 0, 1));
        OnnxTrace.Current?.Squeeze(y, this, null);
        return y;
    }
    /// <summary>Picks entries <paramref name="index"/> (int64) along <paramref name="dim"/>.</summary>
    public Tensor IndexSelect(long dim, Tensor index)
    {
        var y = new Tensor(mlt_index_select(Handle, dim, index.Handle));
        OnnxTrace.Current?.IndexSelect(y, this, dim, index);
        return y;
    }
    /// <summary>A view of <paramref name="length"/> entries from <paramref name="start"/> along <paramref name="dim"/>.</summary>
    public Tensor Narrow(long dim, long start, long length)
    {
        var y = new Tensor(mlt_narrow(Handle, dim, start, length));
        OnnxTrace.Current?.Narrow(y, this, dim, start, length);
        return y;
    }
    /// <summary>A view of entry <paramref name="index"/> along <paramref name="dim"/>, that dim removed.</summary>
    public Tensor Select(long dim, long index)
    {
        var y = new Tensor(mlt_select(Handle, dim, index));
        OnnxTrace.Current?.Select(y, this, dim, index);
        return y;
    }

    private unsafe Tensor[] SplitCore(int mode, long size, long[]? sizes, long dim)
    {
        sizes ??= Array.Empty<long>();
        long extent = Size((int)dim);
        int cap = mode == 0 ? sizes.Length : mode == 1 ? (int)Math.Max(1, (extent + size - 1) / Math.Max(1, size)) : (int)Math.Max(1, size);
        var outs = new IntPtr[cap];
        int n;
        fixed (long* ps = sizes)
        fixed (IntPtr* po = outs)
            n = mlt_split(Handle, mode, size, ps, sizes.Length, dim, po, cap);
        Check(n);
        var result = new Tensor[n];
        for (int i = 0; i < n; i++) result[i] = new Tensor(outs[i]);
        OnnxTrace.Current?.Split(result, this, dim);
        return result;
    }

    /// <summary>Splits into pieces of <paramref name="splitSize"/> along <paramref name="dim"/> (the last may be smaller).</summary>
    public Tensor[] Split(long splitSize, long dim = 0) => SplitCore(1, splitSize, null, dim);
    /// <summary>Splits into pieces of the given sizes along <paramref name="dim"/>.</summary>
    public Tensor[] Split(long[] sizes, long dim = 0) => SplitCore(0, 0, sizes, dim);
    /// <summary>Splits into <paramref name="chunks"/> near-equal pieces along <paramref name="dim"/>.</summary>
    public Tensor[] Chunk(long chunks, long dim = 0) => SplitCore(2, chunks, null, dim);

    // ---------------- linear algebra ----------------

    /// <summary>Matrix product with broadcasting (<c>torch.matmul</c>).</summary>
    public Tensor MatMul(Tensor other)
    {
        var y = new Tensor(mlt_matmul(Handle, other.Handle));
        OnnxTrace.Current?.MatMul(y, this, other);
        return y;
    }
    /// <summary>Batched matrix product of (B,n,m)·(B,m,p).</summary>
    public Tensor Bmm(Tensor other)
    {
        var y = new Tensor(mlt_bmm(Handle, other.Handle));
        OnnxTrace.Current?.MatMul(y, this, other);
        return y;
    }
}
