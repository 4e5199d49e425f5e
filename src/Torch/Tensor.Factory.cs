using MLNet.Attention.Torch.Native;
using MLNet.Attention.Torch.Onnx;
using static MLNet.Attention.Torch.Native.NativeMethods;

namespace MLNet.Attention.Torch;

// Tensor creation and the torch.* functions that take several tensors, as static members of Tensor.
public sealed partial class Tensor
{
    /// <summary>Opens a <see cref="DisposeScope"/> on this thread (TorchSharp's <c>torch.NewDisposeScope()</c>).</summary>
    public static DisposeScope NewDisposeScope() => new();

    private static void CheckShape(long[] shape)
    {
        ArgumentNullException.ThrowIfNull(shape);
        foreach (var d in shape)
            if (d < 0) throw new ArgumentException($"shape [{string.Join(", ", shape)}] has a negative size", nameof(shape));
    }

    private static long Product(long[] shape)
    {
        long n = 1;
        foreach (var d in shape) n = checked(n * d);
        return n;
    }

    /// <summary>A tensor holding a copy of <paramref name="data"/> with the given shape (default: 1-D).</summary>
    public static unsafe Tensor FromArray<T>(ReadOnlySpan<T> data, long[]? shape = null, Device? device = null, bool requiresGrad = false)
        where T : unmanaged
    {
        shape ??= new long[] { data.Length };
        CheckShape(shape);
        if (Product(shape) != data.Length)
            throw new ArgumentException($"shape [{string.Join(", ", shape)}] needs {Product(shape)} elements, the data has {data.Length}", nameof(shape));
        var dev = device ?? Device.Cpu;
        fixed (T* p = data)
        fixed (long* s = shape)
            return Constant(new Tensor(mlt_from_data(p, s, shape.Length, (int)DTypeExtensions.Of<T>(), (int)dev.Type, dev.Index, requiresGrad ? 1 : 0)));
    }

    /// <summary>A tensor holding a copy of <paramref name="data"/> with the given shape.</summary>
    public static Tensor FromArray<T>(T[] data, params long[] shape) where T : unmanaged =>
        FromArray<T>(data.AsSpan(), shape.Length == 0 ? null : shape);

    /// <summary>A tensor from raw little-endian bytes of the given dtype (e.g. bfloat16 bits from a checkpoint).</summary>
    public static unsafe Tensor FromBytes(ReadOnlySpan<byte> bytes, DType dtype, long[] shape, Device? device = null)
    {
        CheckShape(shape);
        long need = Product(shape) * dtype.ElementSize();
        if (need != bytes.Length)
            throw new ArgumentException($"shape [{string.Join(", ", shape)}] of {dtype} needs {need} bytes, got {bytes.Length}", nameof(bytes));
        var dev = device ?? Device.Cpu;
        fixed (byte* p = bytes)
        fixed (long* s = shape)
            return Constant(new Tensor(mlt_from_data(p, s, shape.Length, (int)dtype, (int)dev.Type, dev.Index, 0)));
    }

    /// <summary>A 0-d tensor holding <paramref name="value"/>.</summary>
    public static Tensor FromScalar(double value, DType dtype = DType.Float32, Device? device = null) => Full(Array.Empty<long>(), value, dtype, device);

    /// <summary>Uninitialised memory of the given shape.</summary>
    public static unsafe Tensor Empty(long[] shape, DType dtype = DType.Float32, Device? device = null)
    {
        CheckShape(shape);
        var dev = device ?? Device.Cpu;
        fixed (long* s = shape) return Constant(new Tensor(mlt_empty(s, shape.Length, (int)dtype, (int)dev.Type, dev.Index)));
    }

    /// <summary>A tensor filled with <paramref name="value"/>.</summary>
    public static unsafe Tensor Full(long[] shape, double value, DType dtype = DType.Float32, Device? device = null, bool requiresGrad = false)
    {
        CheckShape(shape);
        var dev = device ?? Device.Cpu;
        fixed (long* s = shape) return Constant(new Tensor(mlt_full(s, shape.Length, value, (int)dtype, (int)dev.Type, dev.Index, requiresGrad ? 1 : 0)));
    }

    /// <summary>Zeros.</summary>
    public static Tensor Zeros(long[] shape, DType dtype = DType.Float32, Device? device = null, bool requiresGrad = false) => Full(shape, 0, dtype, device, requiresGrad);

    /// <summary>Ones.</summary>
    public static Tensor Ones(long[] shape, DType dtype = DType.Float32, Device? device = null, bool requiresGrad = false) => Full(shape, 1, dtype, device, requiresGrad);

    /// <summary>Zeros with the shape, dtype and device of <paramref name="like"/>.</summary>
    public static Tensor ZerosLike(Tensor like) => Zeros(like.Shape, like.DType, like.Device);

    /// <summary>Ones with the shape, dtype and device of <paramref name="like"/>.</summary>
    public static Tensor OnesLike(Tensor like) => Ones(like.Shape, like.DType, like.Device);

    /// <summary>Samples of U[0, 1) from libtorch's generator (<c>torch.rand</c>).</summary>
    public static Tensor Rand(long[] shape, DType dtype = DType.Float32, Device? device = null) => Random(shape, normal: false, dtype, device);

    /// <summary>Samples of N(0, 1) from libtorch's generator (<c>torch.randn</c>).</summary>
    public static Tensor Randn(long[] shape, DType dtype = DType.Float32, Device? device = null) => Random(shape, normal: true, dtype, device);

    private static unsafe Tensor Random(long[] shape, bool normal, DType dtype, Device? device)
    {
        CheckShape(shape);
        var dev = device ?? Device.Cpu;
        fixed (long* s = shape) return Constant(new Tensor(mlt_rand(s, shape.Length, normal ? 1 : 0, (int)dtype, (int)dev.Type, dev.Index)));
    }

    /// <summary>start, start+step, … below end.</summary>
    public static Tensor Arange(double start, double end, double step = 1, DType dtype = DType.Int64, Device? device = null)
    {
        var dev = device ?? Device.Cpu;
        return Constant(new Tensor(mlt_arange(start, end, step, (int)dtype, (int)dev.Type, dev.Index)));
    }

    /// <summary>A tensor a factory made: a constant of an ONNX graph traced now (its values at first use).</summary>
    private static Tensor Constant(Tensor t)
    {
        OnnxTrace.Current?.Constant(t);
        return t;
    }

    /// <summary>Concatenates along an existing dim.</summary>
    public static unsafe Tensor Cat(IReadOnlyList<Tensor> tensors, long dim = 0)
    {
        ArgumentNullException.ThrowIfNull(tensors);
        if (tensors.Count == 0) throw new ArgumentException("Cat needs at least one tensor", nameof(tensors));
        var hs = Handles(tensors);
        Tensor r;
        fixed (IntPtr* p = hs) r = new Tensor(mlt_cat(p, hs.Length, dim));
        GC.KeepAlive(tensors);
        OnnxTrace.Current?.Cat(r, tensors, dim);
        return r;
    }

    /// <summary>Stacks along a new dim.</summary>
    public static unsafe Tensor Stack(IReadOnlyList<Tensor> tensors, long dim = 0)
    {
        ArgumentNullException.ThrowIfNull(tensors);
        if (tensors.Count == 0) throw new ArgumentException("Stack needs at least one tensor", nameof(tensors));
        var hs = Handles(tensors);
        Tensor r;
        fixed (IntPtr* p = hs) r = new Tensor(mlt_stack(p, hs.Length, dim));
        GC.KeepAlive(tensors);
        OnnxTrace.Current?.Stack(r, tensors, dim);
        return r;
    }

    /// <summary>Elementwise choice: <paramref name="a"/> where <paramref name="condition"/>, else <paramref name="b"/>.</summary>
    public static Tensor Where(Tensor condition, Tensor a, Tensor b)
    {
        var y = new Tensor(mlt_where(condition.Handle, a.Handle, b.Handle));
        OnnxTrace.Current?.Where(y, condition, a, b);
        return y;
    }

    /// <summary>Matrix product (<c>torch.matmul</c>).</summary>
    public static Tensor MatMul(Tensor a, Tensor b) => a.MatMul(b);

    /// <summary>Batched matrix product (<c>torch.bmm</c>).</summary>
    public static Tensor Bmm(Tensor a, Tensor b) => a.Bmm(b);
}
