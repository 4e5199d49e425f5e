using MLNet.Attention.Torch;
using MLNet.Attention.Torch.Nn;

namespace MLNet.Attention.Visualization;

/// <summary>
/// Puts a model in evaluation mode for an explanation and restores every module's own mode afterwards; resolves the
/// model's device and checks the input image tensor.
/// </summary>
internal sealed class ModelScope : IDisposable
{
    private readonly List<(Module Module, bool Training)> _modes;

    public ModelScope(Module model)
    {
        _modes = model.NamedModules().Select(p => (p.Value, p.Value.IsTraining)).ToList();
        model.Eval();
        Device = model.NamedParameters().Select(p => p.Value.Device).FirstOrDefault(Device.Cpu);
    }

    public Device Device { get; }

    /// <summary>A (1, C, H, W) float32 copy of <paramref name="image"/> ((C, H, W) or (1, C, H, W)) on the model's device.</summary>
    public Tensor Input(Tensor image)
    {
        ArgumentNullException.ThrowIfNull(image);
        var s = image.Shape;
        if (s.Length == 3) s = new[] { 1L, s[0], s[1], s[2] };
        if (s.Length != 4 || s[0] != 1)
            throw new ArgumentException($"the image must be one (C, H, W) or (1, C, H, W) tensor, got [{string.Join(", ", image.Shape)}]", nameof(image));
        using var v = image.Reshape(s);
        using var d = v.Detach();
        return d.To(Device, DType.Float32, copy: true);
    }

    public void Dispose()
    {
        // Parents first: Train() recurses, so each module ends in its own recorded mode.
        foreach (var (m, training) in _modes) m.Train(training);
    }
}
