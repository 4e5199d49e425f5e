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
    /// <summary>The same values in <paramref name="format"/> (this tensor's data when already laid out so). Tensors that are not 4-D
    /// are returned as a contiguous tensor for <see cref="MemoryFormat.Contiguous"/> and unchanged in layout for channels-last.</summary>
    public static Tensor Contiguous(this Tensor tensor, MemoryFormat format)
    {
        ArgumentNullException.ThrowIfNull(tensor);
        return format == MemoryFormat.ChannelsLast && tensor.Dim == 4 ? tensor.ContiguousChannelsLast() : tensor.Contiguous();
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
