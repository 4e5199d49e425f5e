using MLNet.Attention.Torch;
using MLNet.Attention.Torch.Optim;

namespace MLNet.Attention.Tests.Amp;

/// <summary>
/// <see cref="GradScaler"/> against hand-computed sequences of torch.cuda.amp.GradScaler's rules: the defaults, loss
/// scaling, unscaled gradients = gradients / scale (float32 arithmetic), growth after N clean steps (and none past
/// float32's range), backoff with a skipped step on inf or NaN, several optimizers, the order checks, checkpoint state.
/// </summary>
[TestClass]
public sealed class GradScalerTests
{
    /// <summary>A 3-element parameter and plain SGD with lr 1, so a step subtracts the (unscaled) gradient.</summary>
    private static (Tensor P, SGD Opt) Param(params float[] values)
    {
        var p = Tensor.FromArray(values, values.Length).RequiresGrad_();
        return (p, new SGD(new[] { p }, 1.0));
    }

    /// <summary>Sets the gradient to <paramref name="grad"/> × <paramref name="scale"/> (what backward of a scaled loss gives).</summary>
    private static void SetScaledGrad(Tensor p, float[] grad, double scale)
    {
        using var g = Tensor.FromArray(grad.Select(v => (float)(v * scale)).ToArray(), grad.Length);
        p.Grad = g;
    }

    [TestMethod]
    public void DefaultsArePyTorchs()
    {
        var s = new GradScaler();
        Assert.AreEqual(65536.0, s.ScaleValue);
        Assert.AreEqual(2.0, s.GrowthFactor);
        Assert.AreEqual(0.5, s.BackoffFactor);
        Assert.AreEqual(2000, s.GrowthInterval);
        Assert.AreEqual(0, s.GrowthTracker);
        Assert.IsTrue(s.Enabled);
    }

    [TestMethod]
    public void ScaledLossGivesScaledGradientsAndStepUsesUnscaledOnes()
    {
        var (p, opt) = Param(1f, 2f, 3f);
        var s = new GradScaler(initScale: 1024);
        using var x = Tensor.FromArray(new[] { 0.5f, -0.25f, 2f }, 3);
        using var loss = p.Mul(x).Sum();
        using var scaled = s.Scale(loss);
        Assert.AreEqual(loss.Item() * 1024, scaled.Item());
        scaled.Backward();
        using (var g = p.Grad!)
            CollectionAssert.AreEqual(new[] { 512f, -256f, 2048f }, g.ToArray<float>(), "backward of the scaled loss: x × scale");
        Assert.IsTrue(s.Step(opt), "finite gradients: the step runs");
        s.Update();
        CollectionAssert.AreEqual(new[] { 0.5f, 2.25f, 1f }, p.ToArray<float>(), "p - lr × x (the unscaled gradient)");
        Assert.AreEqual(1, s.GrowthTracker);
        Assert.AreEqual(1024.0, s.ScaleValue);
    }

    [TestMethod]
    public void UnscaleDividesByTheScaleInFloat32()
    {
        var (p, opt) = Param(0f, 0f, 0f);
        var s = new GradScaler(initScale: 3.0);   // 1/3 is not exact in float32: inv = (float)(1.0 / 3)
        float[] raw = { 3f, -7.5f, 1e-3f };
        using (var g = Tensor.FromArray(raw, 3)) p.Grad = g;
        s.Unscale_(opt);
        float inv = (float)(1.0 / 3.0);
        using (var g = p.Grad!)
            CollectionAssert.AreEqual(raw.Select(v => v * inv).ToArray(), g.ToArray<float>(), "grad × float32(1/scale), as PyTorch's kernel");
        Assert.IsTrue(s.Step(opt));
        s.Update();
    }

    [TestMethod]
    public void GrowsAfterGrowthIntervalCleanStepsAndNotPastFloat32()
    {
        var (p, opt) = Param(0f, 0f, 0f);
        var s = new GradScaler(initScale: 8, growthInterval: 3);
        double[] expectedScale = { 8, 8, 16, 16, 16, 32 };
        int[] expectedTracker = { 1, 2, 0, 1, 2, 0 };
        for (int i = 0; i < 6; i++)
        {
            SetScaledGrad(p, new[] { 1f, 2f, 3f }, s.ScaleValue);
            Assert.IsTrue(s.Step(opt), $"step {i + 1}");
            s.Update();
            Assert.AreEqual(expectedScale[i], s.ScaleValue, $"scale after update {i + 1}");
            Assert.AreEqual(expectedTracker[i], s.GrowthTracker, $"tracker after update {i + 1}");
        }
        CollectionAssert.AreEqual(new[] { -6f, -12f, -18f }, p.ToArray<float>(), "six unscaled steps of (1, 2, 3)");

        // 2^127 × 2 overflows float32: the scale stays, the tracker restarts.
        var big = new GradScaler(initScale: Math.Pow(2, 127), growthInterval: 1);
        SetScaledGrad(p, new[] { 0f, 0f, 0f }, 1);
        big.Step(opt);
        big.Update();
        Assert.AreEqual(Math.Pow(2, 127), big.ScaleValue);
        Assert.AreEqual(0, big.GrowthTracker);
    }

    [TestMethod]
    public void InfOrNaNSkipsTheStepAndBacksOff()
    {
        var (p, opt) = Param(1f, 1f, 1f);
        var s = new GradScaler(initScale: 64, growthInterval: 4);
        SetScaledGrad(p, new[] { 1f, 1f, 1f }, s.ScaleValue);
        Assert.IsTrue(s.Step(opt));
        s.Update();                                        // tracker 1, scale 64
        Assert.AreEqual(1, s.GrowthTracker);

        SetScaledGrad(p, new[] { 1f, float.PositiveInfinity, 1f }, 1);
        Assert.IsFalse(s.Step(opt), "an infinite gradient: no step");
        s.Update();
        CollectionAssert.AreEqual(new[] { 0f, 0f, 0f }, p.ToArray<float>(), "the parameters are those of the first step");
        Assert.AreEqual(32.0, s.ScaleValue, "backoff × 0.5");
        Assert.AreEqual(0, s.GrowthTracker, "the tracker restarts");

        SetScaledGrad(p, new[] { float.NaN, 0f, 0f }, 1);
        s.Unscale_(opt);
        Assert.IsFalse(s.Step(opt), "a NaN gradient: no step");
        s.Update();
        Assert.AreEqual(16.0, s.ScaleValue);
        CollectionAssert.AreEqual(new[] { 0f, 0f, 0f }, p.ToArray<float>());

        SetScaledGrad(p, new[] { 2f, 2f, 2f }, s.ScaleValue);
        Assert.IsTrue(s.Step(opt), "finite again: the step runs at the smaller scale");
        s.Update();
        CollectionAssert.AreEqual(new[] { -2f, -2f, -2f }, p.ToArray<float>());
        Assert.AreEqual(1, s.GrowthTracker);
    }

    [TestMethod]
    public void AnyOptimizerWithInfBacksOffButTheCleanOneSteps()
    {
        var (p1, o1) = Param(1f, 1f, 1f);
        var (p2, o2) = Param(1f, 1f, 1f);
        var s = new GradScaler(initScale: 4);
        SetScaledGrad(p1, new[] { 1f, 1f, 1f }, 4);
        SetScaledGrad(p2, new[] { 1f, float.NegativeInfinity, 1f }, 1);
        Assert.IsTrue(s.Step(o1));
        Assert.IsFalse(s.Step(o2));
        s.Update();
        CollectionAssert.AreEqual(new[] { 0f, 0f, 0f }, p1.ToArray<float>());
        CollectionAssert.AreEqual(new[] { 1f, 1f, 1f }, p2.ToArray<float>());
        Assert.AreEqual(2.0, s.ScaleValue);
    }

    [TestMethod]
    public void CallsOutOfOrderAreErrors()
    {
        var (p, opt) = Param(1f, 1f, 1f);
        var s = new GradScaler();
        StringAssert.Contains(Assert.ThrowsExactly<InvalidOperationException>(() => s.Update()).Message, "No inf checks");
        SetScaledGrad(p, new[] { 1f, 1f, 1f }, 1);
        s.Unscale_(opt);
        StringAssert.Contains(Assert.ThrowsExactly<InvalidOperationException>(() => s.Unscale_(opt)).Message, "already been called");
        s.Step(opt);
        StringAssert.Contains(Assert.ThrowsExactly<InvalidOperationException>(() => s.Step(opt)).Message, "already been called");
        StringAssert.Contains(Assert.ThrowsExactly<InvalidOperationException>(() => s.Unscale_(opt)).Message, "after Step");
        s.Update();
        s.Update(newScale: 5);
        Assert.AreEqual(5.0, s.ScaleValue, "an explicit new scale");
        Assert.ThrowsExactly<ArgumentOutOfRangeException>(() => new GradScaler(initScale: 0));
        Assert.ThrowsExactly<ArgumentOutOfRangeException>(() => new GradScaler(growthFactor: 1));
        Assert.ThrowsExactly<ArgumentOutOfRangeException>(() => new GradScaler(backoffFactor: 1));
        Assert.ThrowsExactly<ArgumentOutOfRangeException>(() => new GradScaler(growthInterval: 0));

        var half = Tensor.Zeros(new long[] { 2 }, DType.Float16).RequiresGrad_();
        using (var g = Tensor.Ones(new long[] { 2 }, DType.Float16)) half.Grad = g;
        var e = Assert.ThrowsExactly<ArgumentException>(() => new GradScaler().Unscale_(new SGD(new[] { half }, 0.1)));
        StringAssert.Contains(e.Message, "float16 gradients");
    }

    [TestMethod]
    public void StateRoundTripsAndDisabledIsAPassThrough()
    {
        var s = new GradScaler(growthInterval: 10);
        s.LoadState(256, 7);
        Assert.AreEqual(256.0, s.ScaleValue);
        Assert.AreEqual(7, s.GrowthTracker);
        Assert.ThrowsExactly<ArgumentOutOfRangeException>(() => s.LoadState(double.PositiveInfinity, 0));
        Assert.ThrowsExactly<ArgumentOutOfRangeException>(() => s.LoadState(1, 10));

        var (p, opt) = Param(1f, 1f, 1f);
        var off = new GradScaler(enabled: false);
        using var loss = p.Sum();
        Assert.AreSame(loss, off.Scale(loss));
        Assert.AreEqual(1.0, off.ScaleValue);
        loss.Backward();
        Assert.IsTrue(off.Step(opt));
        off.Update();
        CollectionAssert.AreEqual(new[] { 0f, 0f, 0f }, p.ToArray<float>());
    }
}
