using System.Numerics;
using System.Runtime.InteropServices;
using MLNet.Attention.Torch.Native;
using MLNet.Attention.Torch.Onnx;
using static MLNet.Attention.Torch.Native.NativeMethods;

namespace MLNet.Attention.Torch;

/// <summary>
/// An n-dimensional array in libtorch memory, with autograd. Dispose it (or create it inside a
/// <see cref="DisposeScope"/>) to free native memory at once; otherwise the finalizer frees it.
/// </summary>
public sealed partial class Tensor : IDisposable
{
    private readonly TensorHandle _handle;

    internal DisposeScope? Scope;
    internal int ScopeIndex;

    internal Tensor(IntPtr handle)
    {
        _handle = new TensorHandle(Check(handle));
        DisposeScope.Register(this);
        OnnxTrace.Created(this);
    }

    internal TensorHandle Handle
    {
        get
        {
            ObjectDisposedException.ThrowIf(_handle.IsClosed, this);
            return _handle;
        }
    }

    internal IntPtr RawHandle => Handle.DangerousGetHandle();

    /// <summary>True once the native tensor was released.</summary>
    public bool IsDisposed => _handle.IsClosed;

    /// <summary>Releases this reference to the native tensor (views and other references stay valid).</summary>
    public void Dispose()
    {
        Scope?.Remove(this);
        _handle.Dispose();
    }

    /// <summary>Removes the tensor from its dispose scope, and registers it with the enclosing one (if any).</summary>
    public Tensor MoveToOuterDisposeScope()
    {
        Scope?.MoveToOuter(this);
        return this;
    }

    /// <summary>Removes the tensor from every dispose scope: the caller now owns it.</summary>
    public Tensor DetachFromDisposeScope()
    {
        Scope?.Remove(this);
        return this;
    }

    // ---------------- metadata ----------------

    /// <summary>Number of dimensions.</summary>
    public int Dim => mlt_dim(Handle);

    /// <summary>The size of every dimension.</summary>
    public unsafe long[] Shape => Dims(&mlt_shape);

    /// <summary>The size of dimension <paramref name="dim"/> (negative counts from the end).</summary>
    public long Size(int dim)
    {
        var s = Shape;
        int d = dim < 0 ? dim + s.Length : dim;
        if ((uint)d >= (uint)s.Length)
            throw new ArgumentOutOfRangeException(nameof(dim), dim, $"tensor has {s.Length} dimensions");
        return s[d];
    }

    /// <summary>The stride of every dimension, in elements.</summary>
    public unsafe long[] Strides => Dims(&mlt_strides);

    private unsafe long[] Dims(delegate*<TensorHandle, long*, int, int> query)
    {
        var h = Handle;
        var s = new long[mlt_dim(h)];
        fixed (long* p = s) query(h, p, s.Length);
        return s;
    }

    /// <summary>Total number of elements.</summary>
    public long NumElements => mlt_numel(Handle);

    /// <summary>The element type.</summary>
    public DType DType => (DType)mlt_dtype(Handle);

    /// <summary>The device holding the data.</summary>
    public Device Device => new((DeviceType)mlt_device_type(Handle), mlt_device_index(Handle));

    /// <summary>True when the elements are laid out densely in row-major order.</summary>
    public bool IsContiguous => mlt_is_contiguous(Handle) == 1;

    /// <summary>True for tensors created by the user (not by an operation on tensors that require grad).</summary>
    public bool IsLeaf => mlt_is_leaf(Handle) == 1;

    /// <summary>Whether autograd records operations on this tensor (<c>requires_grad</c>).</summary>
    public bool RequiresGrad
    {
        get => mlt_requires_grad(Handle) == 1;
        set => Check(mlt_set_requires_grad(Handle, value ? 1 : 0));
    }

    /// <summary>Sets <see cref="RequiresGrad"/> and returns this tensor (<c>requires_grad_()</c>).</summary>
    public Tensor RequiresGrad_(bool requiresGrad = true)
    {
        RequiresGrad = requiresGrad;
        return this;
    }

    /// <summary>"Tensor[2, 3] Float32 cpu".</summary>
    public override string ToString() =>
        IsDisposed ? "Tensor(disposed)" : $"Tensor[{string.Join(", ", Shape)}] {DType} {Device}";

    // ---------------- data in and out ----------------

    /// <summary>Copies the elements to a new managed array (row-major), from any device and layout.</summary>
    public unsafe T[] ToArray<T>() where T : unmanaged
    {
        var dt = DType;
        if (DTypeExtensions.Of<T>() != dt)
            throw new InvalidOperationException($"tensor holds {dt}; ToArray<{typeof(T).Name}> needs {DTypeExtensions.Of<T>()} (convert with .To(DType.{DTypeExtensions.Of<T>()}) first)");
        var result = new T[NumElements];
        fixed (T* p = result) Check(mlt_copy_to(Handle, p, (long)result.Length * sizeof(T)));
        return result;
    }

    /// <summary>Copies the elements into <paramref name="destination"/>, which must hold exactly <see cref="NumElements"/> elements.</summary>
    public unsafe void CopyTo<T>(Span<T> destination) where T : unmanaged
    {
        var dt = DType;
        if (DTypeExtensions.Of<T>() != dt)
            throw new InvalidOperationException($"tensor holds {dt}; CopyTo<{typeof(T).Name}> needs {DTypeExtensions.Of<T>()}");
        fixed (T* p = destination) Check(mlt_copy_to(Handle, p, (long)destination.Length * sizeof(T)));
    }

    /// <summary>Copies the raw bytes (row-major, native element layout) to a new array.</summary>
    public unsafe byte[] ToBytes()
    {
        var h = Handle;
        var result = new byte[mlt_numel(h) * ((DType)mlt_dtype(h)).ElementSize()];
        fixed (byte* p = result) Check(mlt_copy_to(h, p, result.Length));
        return result;
    }

    /// <summary>The value of a one-element tensor, as a double.</summary>
    public unsafe double Item()
    {
        double v;
        Check(mlt_item(Handle, &v));
        return v;
    }

    /// <summary>The value of a one-element tensor, converted to <typeparamref name="T"/>.</summary>
    public T Item<T>() where T : INumberBase<T> => T.CreateChecked(Item());

    /// <summary>
    /// A span over the elements of a contiguous CPU tensor, without copying. Valid only while the tensor lives;
    /// writing through it bypasses autograd.
    /// </summary>
    public unsafe Span<T> AsSpan<T>() where T : unmanaged
    {
        if (Device.Type != DeviceType.Cpu) throw new InvalidOperationException($"AsSpan needs a CPU tensor, this one is on {Device}");
        if (!IsContiguous) throw new InvalidOperationException("AsSpan needs a contiguous tensor; call Contiguous() first");
        if (DTypeExtensions.Of<T>() != DType) throw new InvalidOperationException($"tensor holds {DType}, not {typeof(T).Name}");
        var p = mlt_data_ptr(Handle);
        return new Span<T>((void*)p, checked((int)NumElements));
    }

    // ---------------- conversion ----------------

    /// <summary>Moves (or copies) to a device and/or dtype. Returns a new handle (the same storage if nothing changes).</summary>
    public Tensor To(Device device, DType? dtype = null, bool nonBlocking = false, bool copy = false) =>
        Traced(new(mlt_to(Handle, (int)device.Type, device.Index, dtype is null ? -1 : (int)dtype, nonBlocking ? 1 : 0, copy ? 1 : 0)));

    /// <summary>Converts the element type.</summary>
    public Tensor To(DType dtype)
    {
        var d = Device;
        return Traced(new(mlt_to(Handle, (int)d.Type, d.Index, (int)dtype, 0, 0)));
    }

    /// <summary>A copy in host memory.</summary>
    public Tensor Cpu() => To(Device.Cpu);

    /// <summary>A copy in page-locked host memory, for asynchronous host-to-GPU copies.</summary>
    public Tensor PinMemory() => Traced(new(mlt_pin_memory(Handle)));

    /// <summary>A contiguous tensor (this one's data if already contiguous).</summary>
    public Tensor Contiguous() => Traced(new(mlt_contiguous(Handle, 0)));

    /// <summary>The same values in channels-last (NHWC) memory order, with the canonical strides (C·H·W, 1, W·C, C) of
    /// PyTorch's <c>to(memory_format=torch.channels_last)</c> (a copy also when size-1 dimensions make NCHW strides pass for NHWC).</summary>
    public Tensor ContiguousChannelsLast() => Traced(new(mlt_contiguous(Handle, 1)));

    /// <summary>A copy of the data, recorded by autograd.</summary>
    public Tensor Clone() => Traced(new(mlt_clone(Handle)));

    /// <summary>The same data, cut from the autograd graph.</summary>
    public Tensor Detach() => Traced(new(mlt_detach(Handle)));

    /// <summary>A second handle to this very tensor (disposing one leaves the other valid).</summary>
    public Tensor Alias() => Traced(new(mlt_alias(Handle)));

    /// <summary>A copy, view or cast of this tensor with the same values (memory format and device are not part of an ONNX graph).</summary>
    private Tensor Traced(Tensor y)
    {
        if (OnnxTrace.Current is { } trace)
        {
            if (y.DType == DType) trace.Identity(y, this);
            else trace.Cast(y, this);
        }
        return y;
    }

    /// <summary>Replaces this tensor's data with <paramref name="data"/>'s, keeping its identity (<c>t.data = data</c>).</summary>
    public void SetData(Tensor data)
    {
        OnnxTrace.Current?.Overwrite(this, "Tensor.SetData");
        Check(mlt_set_data(Handle, data.Handle));
    }

    // ---------------- autograd ----------------

    /// <summary>Computes gradients of this tensor with respect to the graph leaves (<c>backward()</c>).</summary>
    public void Backward(Tensor? gradient = null, bool retainGraph = false) =>
        Check(mlt_backward(Handle, gradient?.Handle ?? TensorHandle.Null, retainGraph ? 1 : 0));

    /// <summary>The accumulated gradient, or null when none was computed.</summary>
    public Tensor? Grad
    {
        get
        {
            var g = mlt_grad(Handle);
            if (g != IntPtr.Zero) return new Tensor(g);
            var err = LastError();
            if (err.Length > 0) throw new TorchException(err);
            return null;
        }
        set => Check(mlt_set_grad(Handle, value?.Handle ?? TensorHandle.Null));
    }

    /// <summary>Clears the gradients of <paramref name="parameters"/> (to none, or to zeros).</summary>
    public static unsafe void ZeroGrad(IReadOnlyList<Tensor> parameters, bool setToNone = true)
    {
        ArgumentNullException.ThrowIfNull(parameters);
        if (parameters.Count == 0) return;
        var hs = Handles(parameters);
        fixed (IntPtr* p = hs) Check(mlt_zero_grad(p, hs.Length, setToNone ? 1 : 0));
        GC.KeepAlive(parameters);
    }

    /// <summary>
    /// Rescales the gradients so that their global norm is at most <paramref name="maxNorm"/>
    /// (<c>torch.nn.utils.clip_grad_norm_</c>); returns the norm before clipping.
    /// </summary>
    public static unsafe double ClipGradNorm(IReadOnlyList<Tensor> parameters, double maxNorm, double normType = 2.0)
    {
        ArgumentNullException.ThrowIfNull(parameters);
        if (!(maxNorm > 0)) throw new ArgumentOutOfRangeException(nameof(maxNorm), maxNorm, "max norm must be > 0");
        var hs = Handles(parameters);
        double total;
        fixed (IntPtr* p = hs) Check(mlt_clip_grad_norm(p, hs.Length, maxNorm, normType, &total));
        GC.KeepAlive(parameters);
        return total;
    }

    internal static IntPtr[] Handles(IReadOnlyList<Tensor> tensors)
    {
        var hs = new IntPtr[tensors.Count];
        for (int i = 0; i < hs.Length; i++)
            hs[i] = (tensors[i] ?? throw new ArgumentNullException(nameof(tensors), $"tensor {i} is null")).RawHandle;
        return hs;
    }

    // ---------------- in-place initialisation (no autograd record) ----------------

    /// <summary>Fills with samples of U(low, high) from libtorch's generator.</summary>
    public Tensor Uniform_(double low = 0, double high = 1) { OnnxTrace.Current?.Overwrite(this, "Tensor.Uniform_"); Check(mlt_uniform_(Handle, low, high)); return this; }

    /// <summary>Fills with samples of N(mean, std²) from libtorch's generator.</summary>
    public Tensor Normal_(double mean = 0, double std = 1) { OnnxTrace.Current?.Overwrite(this, "Tensor.Normal_"); Check(mlt_normal_(Handle, mean, std)); return this; }

    /// <summary>Fills with a constant.</summary>
    public Tensor Fill_(double value) { OnnxTrace.Current?.Overwrite(this, "Tensor.Fill_"); Check(mlt_fill_(Handle, value)); return this; }

    /// <summary>Fills with zeros.</summary>
    public Tensor Zero_() => Fill_(0);

    /// <summary>Copies <paramref name="source"/>'s values into this tensor (broadcasting, converting dtype and device).</summary>
    public Tensor Copy_(Tensor source) { OnnxTrace.Current?.Overwrite(this, "Tensor.Copy_"); Check(mlt_copy_(Handle, source.Handle)); return this; }
}
