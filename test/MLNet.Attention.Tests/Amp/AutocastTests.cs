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
        SkipWhereTheOneDnnCapHidesItsBFloat16Convolution();
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

    /// <summary>
    /// Skips (Inconclusive) where oneDNN's ISA is capped below AVX-512 (ONEDNN_MAX_CPU_ISA / DNNL_MAX_CPU_ISA) on a CPU
    /// that has it, the emulation of an AVX2 machine: libtorch 1.13 picks oneDNN's bfloat16 convolution by CPUID, the
    /// cap removes it, and PyTorch itself then fails with the same error. A real AVX2 CPU takes ATen's own bfloat16
    /// convolution instead; make_amp_fixtures.py checks that path against the bounds of the test below.
    /// </summary>
    internal static void SkipWhereTheOneDnnCapHidesItsBFloat16Convolution()
    {
        if (Environment.GetEnvironmentVariable("ONEDNN_MAX_CPU_ISA") is null && Environment.GetEnvironmentVariable("DNNL_MAX_CPU_ISA") is null) return;
        using var scope = Tensor.NewDisposeScope();
        try
        {
            using (TorchRuntime.Autocast(Device.Cpu, DType.BFloat16))
                F.Conv2d(Tensor.Ones(new long[] { 1, 3, 4, 4 }), Tensor.Ones(new long[] { 2, 3, 3, 3 }), null, 1, 1);
        }
        catch (TorchException e) when (e.Message.Contains("primitive descriptor", StringComparison.Ordinal))
        {
            Assert.Inconclusive($"oneDNN's ISA cap ({Environment.GetEnvironmentVariable("ONEDNN_MAX_CPU_ISA") ?? Environment.GetEnvironmentVariable("DNNL_MAX_CPU_ISA")}) removes the bfloat16 convolution libtorch chose by CPUID: {e.Message}");
        }
    }

    /// <summary>bfloat16's machine epsilon (8 significant bits): the spacing of bfloat16 values at 1.</summary>
    private const double BF16Eps = 1.0 / 128;

    /// <summary>
    /// Elementwise |actual − expected| ≤ √n · ε_bf16 · magnitude: a sum of terms rounded to bfloat16 (once at the end, or
    /// at every step, as ATen's own bfloat16 GEMM does on CPUs without AVX-512) errs by at most n·u·Σ|terms| (u = ε/2)
    /// and in practice by about √n·u·Σ|terms| (Higham and Mary's probabilistic bound); two such results differ by twice
    /// that. n is the widest bfloat16 sum on the tensor's path; magnitude is Σ|terms| propagated to the tensor.
    /// </summary>
    private static void AssertWithinBFloat16Rounding(Tensor expected, Tensor actual, Tensor magnitude, int n, string what)
    {
        CollectionAssert.AreEqual(expected.Shape, actual.Shape, $"{what}: shape");
        Assert.AreEqual(expected.DType, actual.DType, $"{what}: dtype");
        var e = expected.To(DType.Float64).ToArray<double>();
        var a = actual.To(DType.Float64).ToArray<double>();
        using var broadcast = magnitude.Expand(expected.Shape).Contiguous();
        var m = broadcast.ToArray<double>();
        double k = Math.Sqrt(n) * BF16Eps, worst = 0;
        int at = 0;
        for (int i = 0; i < e.Length; i++)
        {
            double err = Math.Abs(a[i] - e[i]), bound = k * m[i];
            double ratio = err == 0 ? 0 : bound == 0 ? double.PositiveInfinity : err / bound;
            if (ratio > worst) (worst, at) = (ratio, i);
        }
        Assert.IsTrue(worst <= 1, $"{what}: |error| {Math.Abs(a[at] - e[at]):E3} at {at} is {worst:F2} × √{n}·ε_bf16·magnitude ({m[at]:E3})");
    }

    private static void AssertWithinMeasuredDifference(Tensor expected, Tensor actual, Tensor bound, string what)
    {
        var e = expected.To(DType.Float64).ToArray<double>();
        var a = actual.To(DType.Float64).ToArray<double>();
        var b = bound.ToArray<double>();
        double slack = 1e-5 * e.Max(Math.Abs);
        for (int i = 0; i < e.Length; i++)
            Assert.IsTrue(Math.Abs(a[i] - e[i]) <= b[i] + slack, $"{what}[{i}]: |{a[i]} − {e[i]}| > {b[i]:E3} (from the conv output's difference) + {slack:E1}");
    }

    /// <summary>
    /// Σ|terms| of each value the autocast net computes, in float64 from the fixture's weights and input rounded to
    /// bfloat16 as autocast rounds them: the conv's |w|*|x| + |b|; batch norm's |γ|/σ·(that + |μ|) + |β| (its error is
    /// the conv's, scaled); the linear layer's |W|·mean(that) + |b|; and for each gradient the sum of |terms| over the
    /// batch of its exact float64 value (|∂L/∂logits|, |∂L/∂bn|, |∂L/∂conv| times the layer's |input|).
    /// </summary>
    private static Dictionary<string, Tensor> Magnitudes(Dictionary<string, Tensor> f)
    {
        static Tensor B(Tensor t) => t.To(DType.BFloat16).To(DType.Float64);
        static Tensor D(Tensor t) => t.To(DType.Float64);
        var dims = new long[] { 0, 2, 3 };
        var x = B(f["x"]);
        var w = B(f["param.conv.weight"]);
        var b = B(f["param.conv.bias"]);
        var gamma = D(f["param.bn.weight"]).View(1, -1, 1, 1);
        var beta = D(f["param.bn.bias"]).View(1, -1, 1, 1);
        var fw = B(f["param.fc.weight"]);
        var fb = B(f["param.fc.bias"]);

        var c = F.Conv2d(x, w, b, 1, 1).RequiresGrad_();
        var mu = c.Mean(dims, keepDim: true);
        var centred = c - mu;
        var sigma = ((centred * centred).Mean(dims, keepDim: true) + 1e-5).Sqrt();
        var xhat = centred / sigma;
        var bn = xhat * gamma + beta;
        var bnLeaf = bn.Detach().RequiresGrad_();
        var logits = F.Linear(F.Relu(bnLeaf).Mean(new long[] { 2, 3 }), fw, fb);
        var logitsLeaf = logits.Detach().RequiresGrad_();
        F.CrossEntropy(logitsLeaf, f["y"]).Backward();
        var dLogits = logitsLeaf.Grad!;
        (logits * dLogits).Sum().Backward();
        var dBn = bnLeaf.Grad!;
        (bn * dBn).Sum().Backward();
        var dConv = c.Grad!.Abs();
        var wProbe = Tensor.Zeros(w.Shape, DType.Float64).RequiresGrad_();
        (F.Conv2d(x.Abs(), wProbe, null, 1, 1) * dConv).Sum().Backward();

        var conv = F.Conv2d(x.Abs(), w.Abs(), b.Abs(), 1, 1);
        var bnMag = gamma.Abs() / sigma.Detach() * (conv + mu.Detach().Abs()) + beta.Abs();
        var pooled = bnMag.Mean(new long[] { 2, 3 });
        var logitsMag = F.Linear(pooled, fw.Abs(), fb.Abs());
        var dl = dLogits.Abs();
        var db = dBn.Abs();
        return new()
        {
            ["conv"] = conv,
            ["bn"] = bnMag,
            ["logits"] = logitsMag,
            ["grad.fc.bias"] = dl.Sum(0),
            ["grad.fc.weight"] = dl.Transpose(0, 1).MatMul(pooled),
            ["grad.bn.bias"] = db.Sum(dims),
            ["grad.bn.weight"] = (db * xhat.Detach().Abs()).Sum(dims),
            ["grad.conv.bias"] = dConv.Sum(dims),
            ["grad.conv.weight"] = wProbe.Grad!,
        };
    }

    [TestMethod]
    public void MatchesTorchAutocastOnAConvBatchNormLinearNet()
    {
        SkipWhereTheOneDnnCapHidesItsBFloat16Convolution();
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
            Assert.AreEqual(DType.BFloat16, net.ConvOut!.DType, "conv output dtype");
            Assert.AreEqual(DType.BFloat16, net.BnOut!.DType, "batch-norm output dtype");
            Assert.AreEqual(DType.BFloat16, logits.DType, "logits dtype");
            Assert.AreEqual(DType.Float32, loss.DType, "loss dtype");

            // The same autocast arithmetic, to within bfloat16 rounding of the sums (the fixture's oneDNN convolution
            // sums in float32 and rounds once; CPUs without AVX-512 take ATen's own bfloat16 convolution, which rounds
            // as it goes: 1.49, 1.55, 0.03 × ε·magnitude for conv, batch norm and logits, 4.7 for the conv weight's
            // gradient, see make_amp_fixtures.py). n: the conv sums 3·3·3 + 1 terms, the batch gradients 4·10·10.
            const int convTerms = 28, batchTerms = 400;
            var m = Magnitudes(f);
            AssertWithinBFloat16Rounding(f["bf16.conv"], net.ConvOut!, m["conv"], convTerms, "conv output (bf16)");
            AssertWithinBFloat16Rounding(f["bf16.bn"], net.BnOut!, m["bn"], convTerms, "batch-norm output (bf16)");
            AssertWithinBFloat16Rounding(f["bf16.logits"], logits, m["logits"], convTerms, "logits (bf16)");
            // cross entropy's gradient in the logits has L1 norm ≤ 2 per sample: |Δloss| ≤ mean over samples of 2·max|Δlogit|
            var logitMag = m["logits"].ToArray<double>();
            int classes = (int)logits.Shape[1];
            double lossBound = Enumerable.Range(0, logitMag.Length / classes).Average(i => logitMag.Skip(i * classes).Take(classes).Max())
                * 2 * Math.Sqrt(convTerms) * BF16Eps;
            Assert.AreEqual(f["bf16.loss"].Item(), loss.Item(), lossBound, "loss (float32 under autocast)");
            // Batch norm's statistics sum in float32 from the bfloat16 conv output, so they differ by what that output
            // differs by, as measured here: Δmean = mean(Δc); Δvar ≤ (2·mean(|c − μ|·|Δc|) + mean(Δc²))·400/399
            // (unbiased), both times the momentum 0.1; plus float32 rounding (1e-5 of the largest value).
            using (var stats = Tensor.NewDisposeScope())
            {
                var dims = new long[] { 0, 2, 3 };
                var own = net.ConvOut!.To(DType.Float64);
                var dc = (own - f["bf16.conv"].To(DType.Float64)).Abs();
                var centred = (own - own.Mean(dims, keepDim: true)).Abs();
                var meanBound = dc.Mean(dims) * 0.1;
                var varBound = ((centred * dc).Mean(dims) * 2 + (dc * dc).Mean(dims)) * (0.1 * 400 / 399.0);
                AssertWithinMeasuredDifference(f["bf16.running_mean"], net.Bn.RunningMean!, meanBound, "running mean");
                AssertWithinMeasuredDifference(f["bf16.running_var"], net.Bn.RunningVar!, varBound, "running var");
            }
            foreach (var (name, g) in Gradients(net))
            {
                Assert.AreEqual(DType.Float32, g.DType, $"{name}: gradients of float32 weights stay float32");
                int n = name.StartsWith("fc.", StringComparison.Ordinal) ? convTerms : batchTerms;
                AssertWithinBFloat16Rounding(f["bf16.grad." + name], g, m["grad." + name], n, $"grad {name} (autocast)");
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
