namespace MLNet.Attention.Torch;

/// <summary>The kind of device a tensor lives on (libtorch's <c>c10::DeviceType</c> codes).</summary>
public enum DeviceType
{
    /// <summary>Host memory.</summary>
    Cpu = 0,
    /// <summary>An NVIDIA GPU.</summary>
    Cuda = 1,
}

/// <summary>A device: <c>cpu</c> or <c>cuda:N</c>.</summary>
/// <param name="Type">The device kind.</param>
/// <param name="Index">The device ordinal (-1: the current device; CPU uses -1).</param>
public readonly record struct Device(DeviceType Type, int Index = -1)
{
    /// <summary>The host.</summary>
    public static readonly Device Cpu = new(DeviceType.Cpu);

    /// <summary>GPU <paramref name="index"/>.</summary>
    public static Device Cuda(int index = 0) => new(DeviceType.Cuda, index);

    /// <summary>True for a GPU.</summary>
    public bool IsCuda => Type == DeviceType.Cuda;

    /// <summary>Parses <c>cpu</c>, <c>cuda</c> or <c>cuda:N</c> (case-insensitive).</summary>
    public static Device Parse(string text)
    {
        ArgumentNullException.ThrowIfNull(text);
        var s = text.Trim().ToLowerInvariant();
        if (s == "cpu") return Cpu;
        if (s == "cuda" || s == "gpu") return Cuda(0);
        if ((s.StartsWith("cuda:", StringComparison.Ordinal) || s.StartsWith("gpu:", StringComparison.Ordinal))
            && int.TryParse(s[(s.IndexOf(':') + 1)..], out var i) && i >= 0)
            return Cuda(i);
        throw new ArgumentException($"device '{text}' is not one of 'cpu', 'cuda', 'cuda:N'", nameof(text));
    }

    /// <summary>
    /// Chooses the device the way ML.NET's TorchSharp trainers do: <paramref name="gpuDeviceId"/> asks for a GPU;
    /// when none is present the result is the CPU if <paramref name="fallbackToCpu"/>, otherwise an error.
    /// With no id, a GPU is used when one is present; a negative id (-1) means the CPU even where a GPU exists.
    /// </summary>
    public static Device Resolve(int? gpuDeviceId = null, bool fallbackToCpu = true)
    {
        int count = TorchRuntime.CudaDeviceCount;
        if (gpuDeviceId is null)
            return count > 0 ? Cuda(0) : Cpu;
        if (gpuDeviceId < 0)
            return Cpu;
        if (gpuDeviceId < count)
            return Cuda(gpuDeviceId.Value);
        if (fallbackToCpu)
            return Cpu;
        throw new InvalidOperationException(count == 0
            ? $"GpuDeviceId = {gpuDeviceId} was requested with FallbackToCpu = false, but no CUDA device is available (libtorch {TorchRuntime.Version}, cuda available: {TorchRuntime.CudaIsAvailable}). Build native/ against a CUDA libtorch (LIBTORCH_DIR) on a machine with an NVIDIA GPU, or allow the CPU fallback."
            : $"GpuDeviceId = {gpuDeviceId} was requested with FallbackToCpu = false, but only {count} CUDA device(s) exist (ids 0..{count - 1}).");
    }

    /// <inheritdoc/>
    public override string ToString() => Type == DeviceType.Cpu ? "cpu" : Index < 0 ? "cuda" : $"cuda:{Index}";
}
