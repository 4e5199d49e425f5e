using System.Runtime.InteropServices;

namespace MLNet.Attention.Torch.Native;

/// <summary>Owns one native <c>at::Tensor</c> reference; releasing it drops libtorch's refcount.</summary>
internal sealed class TensorHandle : SafeHandle
{
    /// <summary>The handle passed for an absent optional tensor (NULL on the native side).</summary>
    internal static readonly TensorHandle Null = new(IntPtr.Zero);

    internal TensorHandle(IntPtr handle) : base(IntPtr.Zero, ownsHandle: handle != IntPtr.Zero) => SetHandle(handle);

    public override bool IsInvalid => handle == IntPtr.Zero;

    protected override bool ReleaseHandle() => NativeMethods.mlt_free(handle) == 0;
}
