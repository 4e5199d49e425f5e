using MLNet.Attention.Torch;
using MLNet.Attention.Torch.Nn;
using F = MLNet.Attention.Torch.Functional;

namespace MLNet.Attention.Tests.Amp;

/// <summary>
/// <see cref="TorchRuntime.Autocast(Device, DType, bool, bool)"/> on the CPU (bfloat16, the one CPU autocast dtype of
/// libtorch 1.13): which operations change dtype, closeness to float32, scope nesting and restoring, errors, and parity
/// with torch.autocast("cpu", torch.bfloat16) on a conv + batch-norm + linear net (test/reference/make_amp_fixtures.py).
/// </summary>
[TestClass]
public sealed class AutocastTests
{
    private const string Fixture = "amp/autocast_cpu_bf16.safetensors";

    private sealed class Net : Module<Tensor, Tensor>
    {
        public readonly Conv2d Conv;
        public readonly BatchNorm2d Bn;
        public readonly Linear Fc;
        public Tensor? ConvOut, BnOut;

        public Net()
        {
            Conv = RegisterModule("conv", new Conv2d(3, 8, 3, padding: 1));
            Bn = RegisterModule("bn", new BatchNorm2d(8));
            Fc = RegisterModule("fc", new Linear(8, 5));
        }

        public override Tensor Forward(Tensor x)
        {
            ConvOut = Conv.Forward(x);
            BnOut = Bn.Forward(ConvOut);
            var h = F.AdaptiveAvgPool2d(F.Relu(BnOut), 1).Flatten(1);
            return Fc.Forward(h);
        }
    }

    private static Net FixtureNet()
    {
        var f = Fixtures.Load(Fixture);
        var net = new Net();
        net.LoadStateDict(f.Where(p => p.Key.StartsWith("param.", StringComparison.Ordinal)).Select(p => new KeyValuePair<string, Tensor>(p.Key["param.".Length..], p.Value)));
        net.Train();
        return net;
    }

    private static Dictionary<string, Tensor> Gradients(Module m) =>
        m.NamedParameters().ToDictionary(p => p.Key, p => p.Value.Grad!);

    [TestMethod]
    public void ConvAndLinearRunInBFloat16AndStayCloseToFloat32()
    {
        TorchRuntime.ManualSeed(5);
        using var scope = Tensor.NewDisposeScope();
        var x = Tensor.Randn(new long[] { 2, 3, 12, 12 });
        var w = Tensor.Randn(new long[] { 6, 3, 3, 3 }).Mul(0.2);
        var lw = Tensor.Randn(new long[] { 4, 6 }).Mul(0.3);
        var conv32 = F.Conv2d(x, w, null, 1, 1);
        var lin32 = F.Linear(conv32.Mean(new long[] { 2, 3 }), lw);
        Tensor conv16, lin16, sum16, loss16;
        Assert.IsFalse(TorchRuntime.IsAutocastEnabled(DeviceType.Cpu));
        using (TorchRuntime.Autocast(Device.Cpu, DType.BFloat16))
        {
            Assert.IsTrue(TorchRuntime.IsAutocastEnabled(DeviceType.Cpu));
            Assert.AreEqual(DType.BFloat16, TorchRuntime.AutocastDType(DeviceType.Cpu));
            conv16 = F.Conv2d(x, w, null, 1, 1);
            lin16 = F.Linear(conv16.Mean(new long[] { 2, 3 }), lw);
            sum16 = conv16.Add(x.Narrow(1, 0, 1));   // bfloat16 + float32: the wider type
            loss16 = F.CrossEntropy(lin16, Tensor.FromArray(new long[] { 0, 3 }));
        }
        Assert.IsFalse(TorchRuntime.IsAutocastEnabled(DeviceType.Cpu), "the scope restores the state it found");
        Assert.AreEqual(DType.BFloat16, conv16.DType, "conv2d autocasts");
        Assert.AreEqual(DType.BFloat16, lin16.DType, "linear autocasts");
        Assert.AreEqual(DType.Float32, sum16.DType, "elementwise ops promote to the widest input");
        Assert.AreEqual(DType.Float32, loss16.DType, "cross entropy runs in float32");
        Assert.AreEqual(DType.Float32, F.Conv2d(x, w, null, 1, 1).DType, "nothing autocasts outside the scope");
        // bfloat16 keeps 8 significant bits: relative errors of a few 1e-3 per element.
        Fixtures.AssertClose(conv32, conv16.To(DType.Float32), 2e-2, "conv bf16 vs fp32");
        Fixtures.AssertClose(lin32, lin16.To(DType.Float32), 3e-2, "linear bf16 vs fp32");
    }

    [TestMethod]
    public void ScopesNestAndRestore()
    {
        Assert.IsFalse(TorchRuntime.IsAutocastEnabled(DeviceType.Cpu));
        var before = TorchRuntime.AutocastDType(DeviceType.Cpu);
        var outer = TorchRuntime.Autocast(Device.Cpu, DType.BFloat16);
        var inner = TorchRuntime.Autocast(Device.Cpu, DType.BFloat16, enabled: false);
        Assert.IsFalse(TorchRuntime.IsAutocastEnabled(DeviceType.Cpu), "enabled: false turns it off inside");
        using (Tensor.NewDisposeScope())
            Assert.AreEqual(DType.Float32, F.Linear(Tensor.Ones(new long[] { 1, 2 }), Tensor.Ones(new long[] { 3, 2 })).DType);
        inner.Dispose();
        Assert.IsTrue(TorchRuntime.IsAutocastEnabled(DeviceType.Cpu), "the inner scope restores the outer one");
        inner.Dispose(); // a second dispose does nothing
        outer.Dispose();
        Assert.IsFalse(TorchRuntime.IsAutocastEnabled(DeviceType.Cpu));
        Assert.AreEqual(before, TorchRuntime.AutocastDType(DeviceType.Cpu));
        Assert.IsFalse(TorchRuntime.IsAutocastEnabled(DeviceType.Cuda), "CUDA autocast is a separate switch");
        using (TorchRuntime.Autocast(Device.Cpu, MixedPrecision.None))
            Assert.IsFalse(TorchRuntime.IsAutocastEnabled(DeviceType.Cpu), "MixedPrecision.None opens no autocast");
        using (TorchRuntime.Autocast(Device.Cpu, MixedPrecision.BFloat16))
            Assert.IsTrue(TorchRuntime.IsAutocastEnabled(DeviceType.Cpu));
    }

    [TestMethod]
    public void BadArgumentsGiveClearErrors()
    {
        var e = Assert.ThrowsExactly<ArgumentException>(() => TorchRuntime.Autocast(Device.Cpu, DType.Float64));
        StringAssert.Contains(e.Message, "BFloat16 or Float16");
        if (TorchRuntime.Version.StartsWith("1.", StringComparison.Ordinal) || TorchRuntime.Version.StartsWith("2.0", StringComparison.Ordinal))
        {
            var t = Assert.ThrowsExactly<TorchException>(() => TorchRuntime.Autocast(Device.Cpu, DType.Float16));
            StringAssert.Contains(t.Message, "CPU autocast supports bfloat16 only");
            Assert.IsFalse(TorchRuntime.IsAutocastEnabled(DeviceType.Cpu), "a refused scope changes nothing");
        }
    }

    [TestMethod]
    public void DisposingOnAnotherThreadIsRefused()
    {
        var scope = TorchRuntime.Autocast(Device.Cpu, DType.BFloat16);
        try
        {
            var e = Task.Run(() => Assert.ThrowsExactly<InvalidOperationException>(scope.Dispose)).Result;
            StringAssert.Contains(e.Message, "thread");
        }
        finally
        {
            scope.Dispose();
        }
        Assert.IsFalse(TorchRuntime.IsAutocastEnabled(DeviceType.Cpu));
    }

    [TestMethod]
    public void MatchesTorchAutocastOnAConvBatchNormLinearNet()
    {
        int threads = TorchRuntime.NumThreads;
        TorchRuntime.NumThreads = 1; // as the fixture script
        try
        {
            var f = Fixtures.Load(Fixture);
            using var net = FixtureNet();
            using var scope = Tensor.NewDisposeScope();
            Tensor logits, loss;
            using (TorchRuntime.Autocast(Device.Cpu, DType.BFloat16))
            {
                logits = net.Forward(f["x"]);
                loss = F.CrossEntropy(logits, f["y"]);
            }
            loss.Backward();
            // Same libtorch, same kernels: bfloat16 activations agree to within one bfloat16 rounding step.
            Fixtures.AssertClose(f["bf16.conv"], net.ConvOut!, 1e-2, "conv output (bf16)");
            Fixtures.AssertClose(f["bf16.bn"], net.BnOut!, 1e-2, "batch-norm output (bf16)");
            Fixtures.AssertClose(f["bf16.logits"], logits, 1e-2, "logits (bf16)");
            Fixtures.AssertClose(f["bf16.loss"], loss, 1e-3, "loss (float32 under autocast)");
            Fixtures.AssertClose(f["bf16.running_mean"], net.Bn.RunningMean!, 1e-3, "running mean");
            Fixtures.AssertClose(f["bf16.running_var"], net.Bn.RunningVar!, 1e-3, "running var");
            foreach (var (name, g) in Gradients(net))
            {
                Assert.AreEqual(DType.Float32, g.DType, $"{name}: gradients of float32 weights stay float32");
                Fixtures.AssertClose(f["bf16.grad." + name], g, 2e-2, $"grad {name} (autocast)");
            }

            // And the bfloat16 run is close to, but not the same as, float32.
            Fixtures.AssertClose(f["fp32.logits"], logits.To(DType.Float32), 5e-2, "bf16 logits vs fp32");
            Assert.AreNotEqual(f["fp32.loss"].Item(), loss.Item(), "autocast changed the arithmetic");
        }
        finally
        {
            TorchRuntime.NumThreads = threads;
        }
    }
}
