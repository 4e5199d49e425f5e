using MLNet.Attention.Torch.Nn;

namespace MLNet.Attention.Torch;

/// <summary>How a 4-D tensor's elements are laid out in memory (PyTorch's <c>torch.memory_format</c>).</summary>
public enum MemoryFormat
{
    /// <summary>NCHW, row-major (<c>torch.contiguous_format</c>): the default.</summary>
    Contiguous,
    /// <summary>NHWC (<c>torch.channels_last</c>): the layout oneDNN and cuDNN prefer; grouped and depthwise convolutions
    /// with large kernels run several times faster in it on the CPU (PSA's 7×7/9×9 grouped convs: 5–6× measured).</summary>
    ChannelsLast,
}

/// <summary>Memory-format conversions of tensors and modules.</summary>
public static class MemoryFormatExtensions
{
    /// <summary>
    /// The same values in <paramref name="format"/> (this tensor's data when already laid out so). Channels-last gives
    /// the canonical NHWC strides (C·H·W, 1, W·C, C) as PyTorch's <c>tensor.to(memory_format=torch.channels_last)</c>
    /// does, also where <c>contiguous(channels_last)</c> would keep NCHW strides because a size-1 dimension makes them
    /// ambiguous (one input channel, 1×1 kernels): oneDNN reads those as NCHW, and a gray-image stem or a 1×1 conv would
    /// then run its stage in NCHW, with batch norm's backward on its slow mixed-format path. Tensors that are not 4-D
    /// are returned as a contiguous tensor for <see cref="MemoryFormat.Contiguous"/> and unchanged in layout for channels-last.
    /// </summary>
    public static Tensor Contiguous(this Tensor tensor, MemoryFormat format)
    {
        ArgumentNullException.ThrowIfNull(tensor);
        return format == MemoryFormat.ChannelsLast && tensor.Dim == 4 ? tensor.ContiguousChannelsLast() : tensor.Contiguous();
    }

    /// <summary>True when <paramref name="tensor"/> (4-D) has exactly the strides (C·H·W, 1, W·C, C) of a channels-last tensor of its shape.</summary>
    public static bool IsCanonicalChannelsLast(this Tensor tensor)
    {
        ArgumentNullException.ThrowIfNull(tensor);
        if (tensor.Dim != 4) return false;
        var shape = tensor.Shape;
        var strides = tensor.Strides;
        long c = shape[1], w = shape[3];
        return strides[1] == 1 && strides[3] == c && strides[2] == w * c && strides[0] == shape[2] * w * c;
    }

    /// <summary>
    /// Lays out every 4-D parameter and buffer of <paramref name="module"/> in <paramref name="format"/>, in place (PyTorch's
    /// <c>model.to(memory_format=...)</c>); values, names and identities of the tensors are unchanged, so optimizers created
    /// before or after still see the same parameters. Inputs in the same format then keep the whole forward pass in it.
    /// </summary>
    public static T ToMemoryFormat<T>(this T module, MemoryFormat format) where T : Module
    {
        ArgumentNullException.ThrowIfNull(module);
        if (!Enum.IsDefined(format)) throw new ArgumentOutOfRangeException(nameof(format), format, "unknown memory format");
        foreach (var (_, t) in module.NamedParameters().Concat(module.NamedBuffers()))
        {
            if (t is null || t.Dim != 4) continue;
            using var laidOut = t.Contiguous(format);
            t.SetData(laidOut);
        }
        return module;
    }
}
