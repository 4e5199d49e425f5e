using MLNet.Attention.Torch;
using MLNet.Attention.Torch.Optim;

namespace MLNet.Attention.Tests;

/// <summary>SGD and AdamW reach PyTorch's parameters after 3 steps with the same gradients (fixtures/optim.safetensors).</summary>
[TestClass]
public sealed class OptimizerParityTests
{
    private static Optimizer Make(string name, IReadOnlyList<Tensor> ps) => name switch
    {
        "sgd_plain" => new SGD(ps, 0.1),
        "sgd_momentum_wd" => new SGD(ps, 0.05, momentum: 0.9, dampening: 0.1, weightDecay: 1e-2),
        "sgd_nesterov_wd" => new SGD(ps, 0.05, momentum: 0.9, nesterov: true, weightDecay: 1e-4),
        "adamw_default" => new AdamW(ps, 1e-2),
        "adamw_custom" => new AdamW(ps, 3e-3, beta1: 0.8, beta2: 0.99, eps: 1e-6, weightDecay: 0.1),
        "adamw_amsgrad" => new AdamW(ps, 1e-2, amsGrad: true),
        _ => throw new ArgumentException(name),
    };

    /// <summary>The optimizer configurations of fixtures/optim.safetensors (see <see cref="Make"/>).</summary>
    public static IEnumerable<object[]> FixtureNames =>
        new[] { "sgd_plain", "sgd_momentum_wd", "sgd_nesterov_wd", "adamw_default", "adamw_custom", "adamw_amsgrad" }.Select(n => new object[] { n });

    [TestMethod]
    [DynamicData(nameof(FixtureNames))]
    public void ThreeStepsMatchPyTorch(string name)
    {
        var fx = Fixtures.Load("optim.safetensors");
        var p0 = fx[$"{name}/p0_init"].Clone().DetachFromDisposeScope().RequiresGrad_();
        var p1 = fx[$"{name}/p1_init"].Clone().DetachFromDisposeScope().RequiresGrad_();
        using var opt = Make(name, new[] { p0, p1 });
        for (int step = 0; step < 3; step++)
        {
            p0.Grad = fx[$"{name}/g0_step{step}"].Clone();
            p1.Grad = fx[$"{name}/g1_step{step}"].Clone();
            opt.Step();
        }
        Fixtures.AssertClose(fx[$"{name}/p0_final"], p0, 1e-6, $"{name} p0");
        Fixtures.AssertClose(fx[$"{name}/p1_final"], p1, 1e-6, $"{name} p1");
        // The update really moved the parameters (the fixture is not the initial value).
        Assert.IsTrue(p0.Sub(fx[$"{name}/p0_init"]).Abs().Max().Item() > 1e-4);
    }

    /// <summary>Sets PyTorch's <c>foreach</c> choice of an SGD or AdamW.</summary>
    private static void SetForeach(Optimizer o, bool value)
    {
        if (o is SGD sgd) sgd.Foreach = value;
        else ((AdamW)o).Foreach = value;
    }

    [TestMethod]
    [DynamicData(nameof(FixtureNames))]
    public void ForeachMatchesPyTorchAndThePerParameterLoopBitForBit(string name)
    {
        var fx = Fixtures.Load("optim.safetensors");
        Tensor Param(string key) => fx[key].Clone().DetachFromDisposeScope().RequiresGrad_();
        var loop = new[] { Param($"{name}/p0_init"), Param($"{name}/p1_init") };
        var multi = new[] { Param($"{name}/p0_init"), Param($"{name}/p1_init") };
        using var optLoop = Make(name, loop);
        using var optMulti = Make(name, multi);
        SetForeach(optLoop, false);
        SetForeach(optMulti, true);
        for (int step = 0; step < 3; step++)
        {
            for (int i = 0; i < 2; i++)
            {
                loop[i].Grad = fx[$"{name}/g{i}_step{step}"].Clone();
                multi[i].Grad = fx[$"{name}/g{i}_step{step}"].Clone();
            }
            optLoop.Step();
            optMulti.Step();
            for (int i = 0; i < 2; i++)
            {
                CollectionAssert.AreEqual(loop[i].ToArray<float>(), multi[i].ToArray<float>(), $"{name} p{i} step {step}");
                // the multi-tensor form leaves the gradients as they were (PyTorch's SGD with nesterov and no weight decay would not)
                CollectionAssert.AreEqual(fx[$"{name}/g{i}_step{step}"].ToArray<float>(), multi[i].Grad!.ToArray<float>(), $"{name} g{i} step {step}");
                if (optLoop is SGD sgd && sgd.MomentumBuffer(0, i) is { } b)
                    CollectionAssert.AreEqual(b.ToArray<float>(), ((SGD)optMulti).MomentumBuffer(0, i)!.ToArray<float>(), $"{name} buffer {i} step {step}");
                if (optLoop is AdamW adam)
                    Assert.AreEqual(adam.StepCount(0, i), ((AdamW)optMulti).StepCount(0, i));
            }
        }
        Fixtures.AssertClose(fx[$"{name}/p0_final"], multi[0], 1e-6, $"{name} p0");
        Fixtures.AssertClose(fx[$"{name}/p1_final"], multi[1], 1e-6, $"{name} p1");
    }

    [TestMethod]
    public void ForeachAdamWSkipsParametersWithoutGradAndCountsStepsPerParameter()
    {
        Tensor[] Make3() => new[] { Tensor.Ones(new long[] { 4 }, requiresGrad: true), Tensor.Ones(new long[] { 2, 2 }, requiresGrad: true), Tensor.Ones(new long[] { 3 }, requiresGrad: true) };
        var loop = Make3();
        var multi = Make3();
        using var optLoop = new AdamW(loop, 0.05, weightDecay: 0.1, amsGrad: true, maximize: true) { Foreach = false };
        using var optMulti = new AdamW(multi, 0.05, weightDecay: 0.1, amsGrad: true, maximize: true) { Foreach = true };
        for (int step = 0; step < 3; step++)
        {
            foreach (var ps in new[] { loop, multi })
            {
                (ps[0] * ps[0]).Sum().Backward();
                if (step != 1) (ps[1] * 3).Sum().Backward();   // parameter 1 skips a step: its bias correction lags
            }
            optLoop.Step();
            optMulti.Step();
            for (int i = 0; i < 3; i++)
                CollectionAssert.AreEqual(loop[i].ToArray<float>(), multi[i].ToArray<float>(), $"p{i} step {step}");
            optLoop.ZeroGrad();
            optMulti.ZeroGrad();
        }
        Assert.AreEqual(3, optMulti.StepCount(0, 0));
        Assert.AreEqual(2, optMulti.StepCount(0, 1));
        Assert.AreEqual(0, optMulti.StepCount(0, 2));
        CollectionAssert.AreEqual(new float[] { 1, 1, 1 }, multi[2].ToArray<float>());
    }

    [TestMethod]
    public void ForeachSgdSkipsParametersWithoutGradAndStartsMissingBuffers()
    {
        // three parameters, one without a gradient, one whose buffer was restored: the multi-tensor step takes the mixed path
        Tensor[] Make3() => new[] { Tensor.Ones(new long[] { 4 }, requiresGrad: true), Tensor.Ones(new long[] { 2, 2 }, requiresGrad: true), Tensor.Ones(new long[] { 3 }, requiresGrad: true) };
        var loop = Make3();
        var multi = Make3();
        using var optLoop = new SGD(loop, 0.1, momentum: 0.9, weightDecay: 1e-2, nesterov: true, maximize: true) { Foreach = false };
        using var optMulti = new SGD(multi, 0.1, momentum: 0.9, weightDecay: 1e-2, nesterov: true, maximize: true) { Foreach = true };
        using var restored = Tensor.FromArray(new float[] { 0.5f, -1, 2, 0 }).Reshape(2, 2);
        optLoop.SetMomentumBuffer(0, 1, restored);
        optMulti.SetMomentumBuffer(0, 1, restored);
        for (int step = 0; step < 2; step++)
        {
            foreach (var ps in new[] { loop, multi })
            {
                (ps[0] * ps[0]).Sum().Backward();
                (ps[1] * 3).Sum().Backward();
            }
            optLoop.Step();
            optMulti.Step();
            for (int i = 0; i < 3; i++)
                CollectionAssert.AreEqual(loop[i].ToArray<float>(), multi[i].ToArray<float>(), $"p{i} step {step}");
            optLoop.ZeroGrad();
            optMulti.ZeroGrad();
        }
        CollectionAssert.AreEqual(new float[] { 1, 1, 1 }, multi[2].ToArray<float>());
        Assert.IsNull(optMulti.MomentumBuffer(0, 2));
        Assert.IsTrue(multi[0].ToArray<float>().All(v => v > 1), "maximize moves up the gradient");
    }

    [TestMethod]
    public void ParametersWithoutGradAreSkippedAndZeroGradClears()
    {
        var a = Tensor.Ones(new long[] { 3 }, requiresGrad: true);
        var b = Tensor.Ones(new long[] { 3 }, requiresGrad: true);
        using var opt = new AdamW(new[] { a, b }, 0.1);
        a.Sum().Backward();
        opt.Step();
        Assert.AreEqual(1, ((AdamW)opt).StepCount(0, 0));
        Assert.AreEqual(0, ((AdamW)opt).StepCount(0, 1));
        CollectionAssert.AreEqual(new float[] { 1, 1, 1 }, b.ToArray<float>());
        Assert.IsTrue(a.ToArray<float>().All(v => v < 1));
        opt.ZeroGrad();
        Assert.IsNull(a.Grad);
    }

    [TestMethod]
    public void ClipGradNormMatchesDefinition()
    {
        var a = Tensor.FromArray(new float[] { 3, 4 }).RequiresGrad_();
        a.Mul(a).Sum().Backward(); // grad = 2a = (6, 8), norm 10
        double norm = Tensor.ClipGradNorm(new[] { a }, 5.0);
        Assert.AreEqual(10.0, norm, 1e-5);
        var g = a.Grad!.ToArray<float>();
        Assert.AreEqual(3.0, g[0], 1e-4);
        Assert.AreEqual(4.0, g[1], 1e-4);
    }

    [TestMethod]
    public void InvalidHyperparametersAreRejected()
    {
        var p = Tensor.Ones(new long[] { 2 }, requiresGrad: true);
        Assert.ThrowsExactly<ArgumentOutOfRangeException>(() => new SGD(new[] { p }, -0.1));
        Assert.ThrowsExactly<ArgumentException>(() => new SGD(new[] { p }, 0.1, momentum: 0, nesterov: true));
        Assert.ThrowsExactly<ArgumentOutOfRangeException>(() => new AdamW(new[] { p }, 0.1, beta1: 1.0));
    }
}

[TestClass]
public sealed class OptimizerStateRestoreTests
{
    private static (Tensor P, Tensor G) Param(float v) =>
        (Tensor.FromArray(new float[] { v, -v, 2 * v }).DetachFromDisposeScope().RequiresGrad_(), Tensor.FromArray(new float[] { 0.5f, -1, 0.25f }).DetachFromDisposeScope());

    [TestMethod]
    public void RestoredSgdContinuesExactlyLikeTheUninterruptedRun()
    {
        var (a, g) = Param(1);
        var (b, _) = Param(1);
        using var optA = new SGD(new[] { a }, 0.1, momentum: 0.9, nesterov: true);
        using var optB = new SGD(new[] { b }, 0.1, momentum: 0.9, nesterov: true);
        a.Grad = g; b.Grad = g;
        optA.Step(); optB.Step();
        // B "resumes": parameters and buffer copied from A's checkpoint into a fresh optimizer
        using var optC = new SGD(new[] { b }, 0.1, momentum: 0.9, nesterov: true);
        optC.SetMomentumBuffer(0, 0, optB.MomentumBuffer(0, 0));
        Assert.AreNotSame(optB.MomentumBuffer(0, 0), optC.MomentumBuffer(0, 0));
        optA.Step(); optC.Step();
        CollectionAssert.AreEqual(a.ToArray<float>(), b.ToArray<float>());
        Assert.ThrowsExactly<ArgumentException>(() => optC.SetMomentumBuffer(0, 0, Tensor.Zeros(new long[] { 2 })));
    }

    [TestMethod]
    public void RestoredAdamWContinuesExactlyLikeTheUninterruptedRun()
    {
        var (a, g) = Param(1);
        var (b, _) = Param(1);
        using var optA = new AdamW(new[] { a }, 0.01, amsGrad: true);
        a.Grad = g; b.Grad = g;
        optA.Step(); optA.Step();
        b.SetData(a.Detach());
        using var optB = new AdamW(new[] { b }, 0.01, amsGrad: true);
        optB.SetState(0, 0, optA.ExpAvg(0, 0), optA.ExpAvgSq(0, 0), optA.MaxExpAvgSq(0, 0), optA.StepCount(0, 0));
        Assert.AreEqual(2, optB.StepCount(0, 0));
        optA.Step(); optB.Step();
        CollectionAssert.AreEqual(a.ToArray<float>(), b.ToArray<float>());
        Assert.ThrowsExactly<ArgumentOutOfRangeException>(() => optB.SetState(0, 0, null, null, null, -1));
    }
}
