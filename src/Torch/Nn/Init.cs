namespace MLNet.Attention.Torch.Nn;

/// <summary>Which fan a Kaiming initialisation preserves.</summary>
public enum FanMode
{
    /// <summary>Preserve the forward pass variance.</summary>
    FanIn,
    /// <summary>Preserve the backward pass variance (torchvision's ResNet, the seeds' normal(0, √(2/n))).</summary>
    FanOut,
}

/// <summary>
/// <c>torch.nn.init</c>: the same formulas, drawing from libtorch's generator, so a seeded C# model starts from the
/// same weights as the same PyTorch model built in the same order.
/// </summary>
public static class Init
{
    /// <summary>(fan_in, fan_out) of a weight of shape (out, in, *kernel).</summary>
    public static (long FanIn, long FanOut) CalculateFanInAndFanOut(Tensor tensor)
    {
        var s = tensor.Shape;
        if (s.Length < 2) throw new ArgumentException($"fan in/out need a tensor with at least 2 dims, got shape [{string.Join(", ", s)}]", nameof(tensor));
        long receptive = 1;
        for (int i = 2; i < s.Length; i++) receptive *= s[i];
        return (s[1] * receptive, s[0] * receptive);
    }

    /// <summary>The recommended gain for a nonlinearity ("linear", "conv2d", "sigmoid", "tanh", "relu", "leaky_relu", "selu").</summary>
    public static double CalculateGain(string nonlinearity, double param = 0.01) => nonlinearity switch
    {
        "linear" or "conv1d" or "conv2d" or "conv3d" or "sigmoid" => 1.0,
        "tanh" => 5.0 / 3,
        "relu" => Math.Sqrt(2.0),
        "leaky_relu" => Math.Sqrt(2.0 / (1 + param * param)),
        "selu" => 3.0 / 4,
        _ => throw new ArgumentException($"unsupported nonlinearity '{nonlinearity}'", nameof(nonlinearity)),
    };

    private static long Fan(Tensor t, FanMode mode)
    {
        var (fi, fo) = CalculateFanInAndFanOut(t);
        return mode == FanMode.FanIn ? fi : fo;
    }

    /// <summary>U(-b, b) with b = gain·√(3/fan) (<c>kaiming_uniform_</c>).</summary>
    public static Tensor KaimingUniform_(Tensor tensor, double a = 0, FanMode mode = FanMode.FanIn, string nonlinearity = "leaky_relu")
    {
        double std = CalculateGain(nonlinearity, a) / Math.Sqrt(Fan(tensor, mode));
        double bound = Math.Sqrt(3.0) * std;
        return tensor.Uniform_(-bound, bound);
    }

    /// <summary>N(0, gain²/fan) (<c>kaiming_normal_</c>).</summary>
    public static Tensor KaimingNormal_(Tensor tensor, double a = 0, FanMode mode = FanMode.FanIn, string nonlinearity = "leaky_relu") =>
        tensor.Normal_(0, CalculateGain(nonlinearity, a) / Math.Sqrt(Fan(tensor, mode)));

    /// <summary>U(-b, b) with b = gain·√(6/(fan_in+fan_out)) (<c>xavier_uniform_</c>).</summary>
    public static Tensor XavierUniform_(Tensor tensor, double gain = 1)
    {
        var (fi, fo) = CalculateFanInAndFanOut(tensor);
        double bound = gain * Math.Sqrt(6.0 / (fi + fo));
        return tensor.Uniform_(-bound, bound);
    }

    /// <summary>U(low, high).</summary>
    public static Tensor Uniform_(Tensor tensor, double low = 0, double high = 1) => tensor.Uniform_(low, high);

    /// <summary>N(mean, std²).</summary>
    public static Tensor Normal_(Tensor tensor, double mean = 0, double std = 1) => tensor.Normal_(mean, std);

    /// <summary>A constant.</summary>
    public static Tensor Constant_(Tensor tensor, double value) => tensor.Fill_(value);

    /// <summary>Zeros.</summary>
    public static Tensor Zeros_(Tensor tensor) => tensor.Fill_(0);

    /// <summary>Ones.</summary>
    public static Tensor Ones_(Tensor tensor) => tensor.Fill_(1);

    /// <summary>PyTorch's default for conv and linear layers: kaiming_uniform_(a=√5) weights, U(±1/√fan_in) bias.</summary>
    public static void DefaultConvLinear_(Tensor weight, Tensor? bias)
    {
        KaimingUniform_(weight, a: Math.Sqrt(5));
        if (bias is null) return;
        var (fanIn, _) = CalculateFanInAndFanOut(weight);
        double bound = fanIn > 0 ? 1 / Math.Sqrt(fanIn) : 0;
        bias.Uniform_(-bound, bound);
    }
}
