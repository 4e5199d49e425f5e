// Diagnostic only (BackboneBench eager): torchvision's ResNet-50 (small-image form) written the way the PyTorch
// reference runs it: every intermediate disposed as soon as it is consumed (Python's reference counting), ReLU and
// the residual add in place (the reference's ReLU(inplace=True) and `out += identity`). Same modules, same ops
// otherwise as src/Backbones/Models/ResNet.cs, whose blocks keep their intermediates in a DisposeScope until the
// block returns and compute `(y + identity).Relu_()`. Timing the two in one process tells whether that difference
// costs anything.
using MLNet.Attention.Torch;
using MLNet.Attention.Torch.Nn;

namespace MLNet.Attention.Bench.Backbones;

internal sealed class EagerBottleneck : Module<Tensor, Tensor>
{
    private readonly Conv2d _conv1, _conv2, _conv3;
    private readonly BatchNorm2d _bn1, _bn2, _bn3;
    private readonly Sequential? _downsample;

    public EagerBottleneck(long inplanes, long planes, long stride)
    {
        _conv1 = RegisterModule("conv1", new Conv2d(inplanes, planes, 1, bias: false));
        _bn1 = RegisterModule("bn1", new BatchNorm2d(planes));
        _conv2 = RegisterModule("conv2", new Conv2d(planes, planes, 3, stride: stride, padding: 1, bias: false));
        _bn2 = RegisterModule("bn2", new BatchNorm2d(planes));
        _conv3 = RegisterModule("conv3", new Conv2d(planes, planes * 4, 1, bias: false));
        _bn3 = RegisterModule("bn3", new BatchNorm2d(planes * 4));
        if (stride != 1 || inplanes != planes * 4)
            _downsample = RegisterModule("downsample", new Sequential(new Conv2d(inplanes, planes * 4, 1, stride: stride, bias: false), new BatchNorm2d(planes * 4)));
    }

    /// <summary>Keep every intermediate until the block returns (as ResNet.cs's DisposeScope does) instead of disposing it when consumed.</summary>
    public static bool KeepIntermediates { get; set; }

    private readonly List<Tensor> _kept = new();

    private Tensor Then(Tensor previous, Tensor next)
    {
        if (!ReferenceEquals(previous, next))
        {
            if (KeepIntermediates) _kept.Add(previous);
            else previous.Dispose();
        }
        return next;
    }

    public override Tensor Forward(Tensor input)
    {
        try
        {
            return ForwardCore(input);
        }
        finally
        {
            foreach (var t in _kept) t.Dispose();
            _kept.Clear();
        }
    }

    private Tensor ForwardCore(Tensor input)
    {
        var y = _conv1.Forward(input);
        y = Then(y, _bn1.Forward(y));
        y.Relu_();
        y = Then(y, _conv2.Forward(y));
        y = Then(y, _bn2.Forward(y));
        y.Relu_();
        y = Then(y, _conv3.Forward(y));
        y = Then(y, _bn3.Forward(y));
        if (_downsample is null) y.Add_(input);
        else
        {
            using var identity = _downsample.Forward(input);
            y.Add_(identity);
        }
        y.Relu_();
        return y;
    }
}

internal sealed class EagerResNet50 : Module<Tensor, Tensor>
{
    private readonly Conv2d _conv1;
    private readonly BatchNorm2d _bn1;
    private readonly List<EagerBottleneck> _blocks = new();
    private readonly Linear _fc;

    public EagerResNet50(int numClasses)
    {
        _conv1 = RegisterModule("conv1", new Conv2d(3, 64, 3, stride: 1, padding: 1, bias: false));
        _bn1 = RegisterModule("bn1", new BatchNorm2d(64));
        long inplanes = 64;
        int[] layers = { 3, 4, 6, 3 };
        for (int s = 0; s < 4; s++)
        {
            long planes = 64L << s;
            for (int b = 0; b < layers[s]; b++)
            {
                _blocks.Add(RegisterModule($"layer{s + 1}_{b}", new EagerBottleneck(inplanes, planes, b == 0 && s > 0 ? 2 : 1)));
                inplanes = planes * 4;
            }
        }
        _fc = RegisterModule("fc", new Linear(inplanes, numClasses));
    }

    public override Tensor Forward(Tensor input)
    {
        var x = _conv1.Forward(input);
        var t = _bn1.Forward(x);
        x.Dispose();
        t.Relu_();
        foreach (var b in _blocks)
        {
            var next = b.Forward(t);
            t.Dispose();
            t = next;
        }
        var pooled = t.Mean(new long[] { 2, 3 });
        t.Dispose();
        var y = _fc.Forward(pooled);
        pooled.Dispose();
        return y;
    }
}
