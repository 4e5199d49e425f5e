namespace MLNet.Attention.Torch.Nn;

/// <summary>A (N,C,H,W) 2-D convolution (<c>nn.Conv2d</c>): parameters <c>weight</c> and <c>bias</c>.</summary>
public sealed class Conv2d : Module<Tensor, Tensor>
{
    /// <summary>(out, in/groups, kH, kW).</summary>
    public Tensor Weight { get; }
    /// <summary>(out) or null.</summary>
    public Tensor? Bias { get; }
    private readonly long[] _stride, _padding, _dilation;
    private readonly long _groups, _in, _out, _kh, _kw;

    /// <summary>Creates the layer with PyTorch's default initialisation.</summary>
    public Conv2d(long inChannels, long outChannels, long kernelSize, long stride = 1, long padding = 0, long dilation = 1,
        long groups = 1, bool bias = true, Device? device = null)
        : this(inChannels, outChannels, (kernelSize, kernelSize), (stride, stride), (padding, padding), (dilation, dilation), groups, bias, device) { }

    /// <summary>Creates the layer with rectangular kernel, stride, padding, dilation.</summary>
    public Conv2d(long inChannels, long outChannels, (long H, long W) kernelSize, (long H, long W) stride, (long H, long W) padding,
        (long H, long W) dilation, long groups = 1, bool bias = true, Device? device = null)
    {
        if (inChannels <= 0 || outChannels <= 0) throw new ArgumentOutOfRangeException(nameof(inChannels), $"channels must be > 0 (in={inChannels}, out={outChannels})");
        if (groups <= 0 || inChannels % groups != 0 || outChannels % groups != 0)
            throw new ArgumentException($"groups={groups} must divide in_channels={inChannels} and out_channels={outChannels}", nameof(groups));
        if (kernelSize.H <= 0 || kernelSize.W <= 0) throw new ArgumentOutOfRangeException(nameof(kernelSize), "kernel size must be > 0");
        _in = inChannels; _out = outChannels; _kh = kernelSize.H; _kw = kernelSize.W; _groups = groups;
        _stride = new[] { stride.H, stride.W };
        _padding = new[] { padding.H, padding.W };
        _dilation = new[] { dilation.H, dilation.W };
        Weight = RegisterParameter("weight", Tensor.Empty(new[] { outChannels, inChannels / groups, kernelSize.H, kernelSize.W }, device: device))!;
        Bias = RegisterParameter("bias", bias ? Tensor.Empty(new[] { outChannels }, device: device) : null);
        Init.DefaultConvLinear_(Weight, Bias);
    }

    /// <inheritdoc/>
    public override Tensor Forward(Tensor input)
    {
        var y = Functional.Conv2d(input, Weight, Bias, _stride, _padding, _dilation, _groups);
        if (FlopCounter.IsActive) FlopCounter.Add(y.NumElements * (_in / _groups) * _kh * _kw);
        return RunForwardHooks(input, y);
    }

    /// <inheritdoc/>
    protected override bool RunsOwnForwardHooks => true;

    /// <inheritdoc/>
    protected override string ExtraRepr() =>
        $"{_in}, {_out}, kernel_size=({_kh}, {_kw}), stride=({_stride[0]}, {_stride[1]}), padding=({_padding[0]}, {_padding[1]})" +
        (_dilation[0] != 1 || _dilation[1] != 1 ? $", dilation=({_dilation[0]}, {_dilation[1]})" : "") +
        (_groups != 1 ? $", groups={_groups}" : "") + (Bias is null ? ", bias=False" : "");
}

/// <summary>A (N,C,L) 1-D convolution (<c>nn.Conv1d</c>).</summary>
public sealed class Conv1d : Module<Tensor, Tensor>
{
    /// <summary>(out, in/groups, k).</summary>
    public Tensor Weight { get; }
    /// <summary>(out) or null.</summary>
    public Tensor? Bias { get; }
    private readonly long _stride, _padding, _dilation, _groups;

    /// <summary>Creates the layer with PyTorch's default initialisation.</summary>
    public Conv1d(long inChannels, long outChannels, long kernelSize, long stride = 1, long padding = 0, long dilation = 1,
        long groups = 1, bool bias = true, Device? device = null)
    {
        if (groups <= 0 || inChannels % groups != 0 || outChannels % groups != 0)
            throw new ArgumentException($"groups={groups} must divide in_channels={inChannels} and out_channels={outChannels}", nameof(groups));
        _stride = stride; _padding = padding; _dilation = dilation; _groups = groups;
        Weight = RegisterParameter("weight", Tensor.Empty(new[] { outChannels, inChannels / groups, kernelSize }, device: device))!;
        Bias = RegisterParameter("bias", bias ? Tensor.Empty(new[] { outChannels }, device: device) : null);
        Init.DefaultConvLinear_(Weight, Bias);
    }

    /// <inheritdoc/>
    public override Tensor Forward(Tensor input)
    {
        var y = Functional.Conv1d(input, Weight, Bias, _stride, _padding, _dilation, _groups);
        if (FlopCounter.IsActive) FlopCounter.Add(y.NumElements * Weight.Size(1) * Weight.Size(2));
        return RunForwardHooks(input, y);
    }

    /// <inheritdoc/>
    protected override bool RunsOwnForwardHooks => true;
}

/// <summary>y = x·Wᵀ + b (<c>nn.Linear</c>).</summary>
public sealed class Linear : Module<Tensor, Tensor>
{
    /// <summary>(out, in).</summary>
    public Tensor Weight { get; }
    /// <summary>(out) or null.</summary>
    public Tensor? Bias { get; }
    private readonly long _in, _out;

    /// <summary>Creates the layer with PyTorch's default initialisation.</summary>
    public Linear(long inFeatures, long outFeatures, bool bias = true, Device? device = null)
    {
        if (inFeatures <= 0 || outFeatures <= 0) throw new ArgumentOutOfRangeException(nameof(inFeatures), $"features must be > 0 (in={inFeatures}, out={outFeatures})");
        _in = inFeatures; _out = outFeatures;
        Weight = RegisterParameter("weight", Tensor.Empty(new[] { outFeatures, inFeatures }, device: device))!;
        Bias = RegisterParameter("bias", bias ? Tensor.Empty(new[] { outFeatures }, device: device) : null);
        Init.DefaultConvLinear_(Weight, Bias);
    }

    /// <inheritdoc/>
    public override Tensor Forward(Tensor input)
    {
        var y = Functional.Linear(input, Weight, Bias);
        if (FlopCounter.IsActive) FlopCounter.Add(y.NumElements * _in);
        return RunForwardHooks(input, y);
    }

    /// <inheritdoc/>
    protected override bool RunsOwnForwardHooks => true;

    /// <inheritdoc/>
    protected override string ExtraRepr() => $"in_features={_in}, out_features={_out}, bias={(Bias is not null ? "True" : "False")}";
}

/// <summary>
/// Batch normalisation over the channel dim (<c>nn.BatchNorm1d/2d</c>): parameters <c>weight</c>, <c>bias</c>;
/// buffers <c>running_mean</c>, <c>running_var</c>, <c>num_batches_tracked</c>.
/// </summary>
public class BatchNorm : Module<Tensor, Tensor>
{
    /// <summary>γ (C) or null when not affine.</summary>
    public Tensor? Weight { get; }
    /// <summary>β (C) or null when not affine.</summary>
    public Tensor? Bias { get; }
    /// <summary>Running mean (C) or null without running stats.</summary>
    public Tensor? RunningMean { get; }
    /// <summary>Running variance (C) or null without running stats.</summary>
    public Tensor? RunningVar { get; }
    /// <summary>Batches seen in training (int64 scalar).</summary>
    public Tensor? NumBatchesTracked { get; }
    /// <summary>Running-average factor; null: cumulative average.</summary>
    public double? Momentum { get; }
    /// <summary>Added to the variance.</summary>
    public double Eps { get; }
    private readonly long _features;

    /// <summary>Creates the layer (γ=1, β=0, mean 0, var 1).</summary>
    public BatchNorm(long numFeatures, double eps = 1e-5, double? momentum = 0.1, bool affine = true, bool trackRunningStats = true, Device? device = null)
    {
        if (numFeatures <= 0) throw new ArgumentOutOfRangeException(nameof(numFeatures), numFeatures, "must be > 0");
        _features = numFeatures; Eps = eps; Momentum = momentum;
        Weight = RegisterParameter("weight", affine ? Tensor.Ones(new[] { numFeatures }, device: device) : null);
        Bias = RegisterParameter("bias", affine ? Tensor.Zeros(new[] { numFeatures }, device: device) : null);
        RunningMean = RegisterBuffer("running_mean", trackRunningStats ? Tensor.Zeros(new[] { numFeatures }, device: device) : null);
        RunningVar = RegisterBuffer("running_var", trackRunningStats ? Tensor.Ones(new[] { numFeatures }, device: device) : null);
        NumBatchesTracked = RegisterBuffer("num_batches_tracked", trackRunningStats ? Tensor.Zeros(Array.Empty<long>(), DType.Int64, device) : null);
    }

    /// <inheritdoc/>
    public override Tensor Forward(Tensor input)
    {
        double factor = Momentum ?? 0.0;
        if (IsTraining && NumBatchesTracked is not null)
        {
            NumBatchesTracked.Add_(1);
            if (Momentum is null) factor = 1.0 / NumBatchesTracked.Item();
        }
        bool useBatchStats = IsTraining || RunningMean is null;
        return RunForwardHooks(input, Functional.BatchNorm(input, IsTraining && NumBatchesTracked is null ? null : RunningMean,
            IsTraining && NumBatchesTracked is null ? null : RunningVar, Weight, Bias, useBatchStats, factor, Eps));
    }

    /// <inheritdoc/>
    protected override bool RunsOwnForwardHooks => true;

    /// <inheritdoc/>
    protected override string ExtraRepr() => $"{_features}, eps={Eps}, momentum={Momentum}";
}

/// <summary>Batch normalisation of (N,C,H,W) input.</summary>
public sealed class BatchNorm2d : BatchNorm
{
    /// <summary>Creates the layer.</summary>
    public BatchNorm2d(long numFeatures, double eps = 1e-5, double? momentum = 0.1, bool affine = true, bool trackRunningStats = true, Device? device = null)
        : base(numFeatures, eps, momentum, affine, trackRunningStats, device) { }

    /// <inheritdoc/>
    public override Tensor Forward(Tensor input)
    {
        if (input.Dim != 4) throw new ArgumentException($"BatchNorm2d expects 4-D (N,C,H,W) input, got {input.Dim}-D", nameof(input));
        return base.Forward(input);
    }
}

/// <summary>Batch normalisation of (N,C) or (N,C,L) input.</summary>
public sealed class BatchNorm1d : BatchNorm
{
    /// <summary>Creates the layer.</summary>
    public BatchNorm1d(long numFeatures, double eps = 1e-5, double? momentum = 0.1, bool affine = true, bool trackRunningStats = true, Device? device = null)
        : base(numFeatures, eps, momentum, affine, trackRunningStats, device) { }

    /// <inheritdoc/>
    public override Tensor Forward(Tensor input)
    {
        if (input.Dim is not (2 or 3)) throw new ArgumentException($"BatchNorm1d expects 2-D or 3-D input, got {input.Dim}-D", nameof(input));
        return base.Forward(input);
    }
}

/// <summary>Layer normalisation over trailing dims (<c>nn.LayerNorm</c>).</summary>
public sealed class LayerNorm : Module<Tensor, Tensor>
{
    /// <summary>γ or null.</summary>
    public Tensor? Weight { get; }
    /// <summary>β or null.</summary>
    public Tensor? Bias { get; }
    private readonly long[] _shape;
    private readonly double _eps;

    /// <summary>Creates the layer (γ=1, β=0).</summary>
    public LayerNorm(long[] normalizedShape, double eps = 1e-5, bool elementwiseAffine = true, Device? device = null)
    {
        _shape = (long[])normalizedShape.Clone(); _eps = eps;
        Weight = RegisterParameter("weight", elementwiseAffine ? Tensor.Ones(_shape, device: device) : null);
        Bias = RegisterParameter("bias", elementwiseAffine ? Tensor.Zeros(_shape, device: device) : null);
    }

    /// <inheritdoc/>
    public override Tensor Forward(Tensor input) => RunForwardHooks(input, Functional.LayerNorm(input, _shape, Weight, Bias, _eps));

    /// <inheritdoc/>
    protected override bool RunsOwnForwardHooks => true;
}

/// <summary>Group normalisation (<c>nn.GroupNorm</c>).</summary>
public sealed class GroupNorm : Module<Tensor, Tensor>
{
    /// <summary>γ or null.</summary>
    public Tensor? Weight { get; }
    /// <summary>β or null.</summary>
    public Tensor? Bias { get; }
    private readonly long _groups;
    private readonly double _eps;

    /// <summary>Creates the layer (γ=1, β=0).</summary>
    public GroupNorm(long numGroups, long numChannels, double eps = 1e-5, bool affine = true, Device? device = null)
    {
        if (numGroups <= 0 || numChannels % numGroups != 0)
            throw new ArgumentException($"num_groups={numGroups} must divide num_channels={numChannels}", nameof(numGroups));
        _groups = numGroups; _eps = eps;
        Weight = RegisterParameter("weight", affine ? Tensor.Ones(new[] { numChannels }, device: device) : null);
        Bias = RegisterParameter("bias", affine ? Tensor.Zeros(new[] { numChannels }, device: device) : null);
    }

    /// <inheritdoc/>
    public override Tensor Forward(Tensor input) => RunForwardHooks(input, Functional.GroupNorm(input, _groups, Weight, Bias, _eps));

    /// <inheritdoc/>
    protected override bool RunsOwnForwardHooks => true;
}
