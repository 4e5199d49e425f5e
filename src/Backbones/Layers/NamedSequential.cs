using MLNet.Attention.Torch;
using MLNet.Attention.Torch.Nn;

namespace MLNet.Attention.Backbones.Layers;

/// <summary>
/// A sequence of layers with explicit names, like an <c>nn.Sequential</c> filled with <c>add_module(name, layer)</c>:
/// the state-dict keys carry those names (<c>gate_c.gate_c_fc_0.weight</c>) instead of indices.
/// </summary>
public sealed class NamedSequential : Module<Tensor, Tensor>
{
    private readonly List<KeyValuePair<string, Module<Tensor, Tensor>>> _layers = new();

    /// <summary>Appends <paramref name="layer"/> under <paramref name="name"/> and returns this container.</summary>
    /// <exception cref="ArgumentException">The name is empty, holds a dot, or is taken.</exception>
    public NamedSequential Add(string name, Module<Tensor, Tensor> layer)
    {
        _layers.Add(new(name, RegisterModule(name, layer)));
        return this;
    }

    /// <summary>Number of layers.</summary>
    public int Count => _layers.Count;

    /// <summary>The layer registered under <paramref name="name"/>.</summary>
    /// <exception cref="KeyNotFoundException">No layer has that name.</exception>
    public Module<Tensor, Tensor> this[string name] =>
        _layers.Find(p => p.Key == name).Value ?? throw new KeyNotFoundException($"no layer named '{name}'");

    /// <summary>Runs the layers in order (with the forward hooks of those that do not run their own), freeing each intermediate once the next layer has consumed it.</summary>
    public override Tensor Forward(Tensor input)
    {
        ArgumentNullException.ThrowIfNull(input);
        Tensor x = input;
        foreach (var (_, layer) in _layers)
        {
            var y = ForwardChild(layer, x);
            if (!ReferenceEquals(x, input) && !ReferenceEquals(x, y)) x.Dispose();
            x = y;
        }
        return RunForwardHooks(input, ReferenceEquals(x, input) ? input.Alias() : x);
    }

    /// <inheritdoc/>
    protected override bool RunsOwnForwardHooks => true;
}
