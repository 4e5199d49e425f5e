namespace MLNet.Attention.Torch.Nn;

/// <summary>A parameter-free layer wrapping one function of its input.</summary>
public abstract class FunctionLayer : Module<Tensor, Tensor>
{
    /// <inheritdoc/>
    protected override bool RunsOwnForwardHooks => true;

    /// <inheritdoc/>
    protected override string ExtraRepr() => "";
}

/// <summary>max(x, 0); <c>inplace</c> overwrites the input (saves memory, as <c>nn.ReLU(inplace=True)</c>).</summary>
public sealed class ReLU(bool inplace = false) : FunctionLayer
{
    /// <inheritdoc/>
    public override Tensor Forward(Tensor input) => RunForwardHooks(input, inplace ? input.Relu_() : input.Relu());
    /// <inheritdoc/>
    protected override string ExtraRepr() => inplace ? "inplace=True" : "";
}

/// <summary>min(max(x, 0), 6).</summary>
public sealed class ReLU6 : FunctionLayer
{
    /// <inheritdoc/>
    public override Tensor Forward(Tensor input) => RunForwardHooks(input, Functional.Relu6(input));
}

/// <summary>Logistic sigmoid.</summary>
public sealed class Sigmoid : FunctionLayer
{
    /// <inheritdoc/>
    public override Tensor Forward(Tensor input) => RunForwardHooks(input, input.Sigmoid());
}

/// <summary>relu6(x+3)/6.</summary>
public sealed class Hardsigmoid : FunctionLayer
{
    /// <inheritdoc/>
    public override Tensor Forward(Tensor input) => RunForwardHooks(input, Functional.Hardsigmoid(input));
}

/// <summary>x·relu6(x+3)/6.</summary>
public sealed class Hardswish : FunctionLayer
{
    /// <inheritdoc/>
    public override Tensor Forward(Tensor input) => RunForwardHooks(input, Functional.Hardswish(input));
}

/// <summary>x·sigmoid(x).</summary>
public sealed class SiLU : FunctionLayer
{
    /// <inheritdoc/>
    public override Tensor Forward(Tensor input) => RunForwardHooks(input, Functional.Silu(input));
}

/// <summary>Gaussian error linear unit.</summary>
public sealed class GELU(bool tanhApproximation = false) : FunctionLayer
{
    /// <inheritdoc/>
    public override Tensor Forward(Tensor input) => RunForwardHooks(input, Functional.Gelu(input, tanhApproximation));
}

/// <summary>tanh(x).</summary>
public sealed class Tanh : FunctionLayer
{
    /// <inheritdoc/>
    public override Tensor Forward(Tensor input) => RunForwardHooks(input, input.Tanh());
}

/// <summary>Softmax along a dim.</summary>
public sealed class Softmax(long dim) : FunctionLayer
{
    /// <inheritdoc/>
    public override Tensor Forward(Tensor input) => RunForwardHooks(input, Functional.Softmax(input, dim));
}

/// <summary>Returns its input (a handle to the same tensor).</summary>
public sealed class Identity : FunctionLayer
{
    /// <inheritdoc/>
    public override Tensor Forward(Tensor input) => RunForwardHooks(input, input.Alias());
}

/// <summary>Flattens dims start..end.</summary>
public sealed class Flatten(long startDim = 1, long endDim = -1) : FunctionLayer
{
    /// <inheritdoc/>
    public override Tensor Forward(Tensor input) => RunForwardHooks(input, input.Flatten(startDim, endDim));
}

/// <summary>Dropout, active only in training mode.</summary>
public sealed class Dropout : FunctionLayer
{
    private readonly double _p;

    /// <summary>Creates the layer; <paramref name="p"/> is the drop probability.</summary>
    public Dropout(double p = 0.5)
    {
        if (p < 0 || p > 1) throw new ArgumentOutOfRangeException(nameof(p), p, "dropout probability must be in [0, 1]");
        _p = p;
    }

    /// <inheritdoc/>
    public override Tensor Forward(Tensor input) => RunForwardHooks(input, Functional.Dropout(input, _p, IsTraining));
    /// <inheritdoc/>
    protected override string ExtraRepr() => $"p={_p}";
}

/// <summary>2-D max pooling.</summary>
public sealed class MaxPool2d(long kernelSize, long? stride = null, long padding = 0, long dilation = 1, bool ceilMode = false) : FunctionLayer
{
    /// <inheritdoc/>
    public override Tensor Forward(Tensor input) =>
        RunForwardHooks(input, Functional.MaxPool2d(input, new[] { kernelSize }, new[] { stride ?? kernelSize }, new[] { padding }, new[] { dilation }, ceilMode));
}

/// <summary>2-D average pooling.</summary>
public sealed class AvgPool2d(long kernelSize, long? stride = null, long padding = 0, bool ceilMode = false, bool countIncludePad = true) : FunctionLayer
{
    /// <inheritdoc/>
    public override Tensor Forward(Tensor input) =>
        RunForwardHooks(input, Functional.AvgPool2d(input, new[] { kernelSize }, new[] { stride ?? kernelSize }, new[] { padding }, ceilMode, countIncludePad));
}

/// <summary>Adaptive average pooling; a null side keeps the input size.</summary>
public sealed class AdaptiveAvgPool2d(long? outputHeight, long? outputWidth) : FunctionLayer
{
    /// <summary>Square output.</summary>
    public AdaptiveAvgPool2d(long outputSize) : this(outputSize, (long?)outputSize) { }
    /// <inheritdoc/>
    public override Tensor Forward(Tensor input) => RunForwardHooks(input, Functional.AdaptiveAvgPool2d(input, outputHeight, outputWidth));
}

/// <summary>Adaptive max pooling; a null side keeps the input size.</summary>
public sealed class AdaptiveMaxPool2d(long? outputHeight, long? outputWidth) : FunctionLayer
{
    /// <summary>Square output.</summary>
    public AdaptiveMaxPool2d(long outputSize) : this(outputSize, (long?)outputSize) { }
    /// <inheritdoc/>
    public override Tensor Forward(Tensor input) => RunForwardHooks(input, Functional.AdaptiveMaxPool2d(input, outputHeight, outputWidth));
}

/// <summary>Upsampling by a scale factor (<c>nn.Upsample</c>).</summary>
public sealed class Upsample(double scaleFactor, InterpolationMode mode = InterpolationMode.Nearest, bool? alignCorners = null) : FunctionLayer
{
    /// <inheritdoc/>
    public override Tensor Forward(Tensor input) => RunForwardHooks(input, Functional.Interpolate(input, scaleFactor, scaleFactor, mode, alignCorners));
}

/// <summary>Runs its children in order; they are named "0", "1", … as in <c>nn.Sequential</c>.</summary>
public sealed class Sequential : Module<Tensor, Tensor>
{
    private readonly List<Module<Tensor, Tensor>> _layers = new();

    /// <summary>Creates the container.</summary>
    public Sequential(params Module<Tensor, Tensor>[] layers)
    {
        foreach (var l in layers) Append(l);
    }

    /// <summary>Adds a layer at the end.</summary>
    public Sequential Append(Module<Tensor, Tensor> layer)
    {
        _layers.Add(RegisterModule(_layers.Count.ToString(System.Globalization.CultureInfo.InvariantCulture), layer));
        return this;
    }

    /// <summary>Number of layers.</summary>
    public int Count => _layers.Count;

    /// <summary>Layer <paramref name="index"/>.</summary>
    public Module<Tensor, Tensor> this[int index] => _layers[index];

    /// <summary>
    /// Runs the layers. Intermediates are disposed as soon as the next layer has consumed them (unless a layer
    /// returned its own input), so a deep stack holds only what autograd keeps.
    /// </summary>
    public override Tensor Forward(Tensor input)
    {
        Tensor x = input;
        foreach (var layer in _layers)
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

/// <summary>A list of submodules named "0", "1", … (<c>nn.ModuleList</c>).</summary>
public sealed class ModuleList<T> : Module, IReadOnlyList<T> where T : Module
{
    private readonly List<T> _items = new();

    /// <summary>Creates the list.</summary>
    public ModuleList(params T[] modules)
    {
        foreach (var m in modules) Add(m);
    }

    /// <summary>Appends a module.</summary>
    public void Add(T module) => _items.Add(RegisterModule(_items.Count.ToString(System.Globalization.CultureInfo.InvariantCulture), module));

    /// <inheritdoc/>
    public T this[int index] => _items[index];
    /// <inheritdoc/>
    public int Count => _items.Count;
    /// <inheritdoc/>
    public IEnumerator<T> GetEnumerator() => _items.GetEnumerator();
    System.Collections.IEnumerator System.Collections.IEnumerable.GetEnumerator() => GetEnumerator();
}
