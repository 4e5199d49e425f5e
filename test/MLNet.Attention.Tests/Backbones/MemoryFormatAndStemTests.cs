using MLNet.Attention.Backbones.Models;
using MLNet.Attention.Torch;
using MLNet.Attention.Torch.Nn;

namespace MLNet.Attention.Tests.Backbones;

/// <summary>
/// Channels-last (NHWC) training gives the NCHW results up to float rounding for every layer kind the backbones use
/// (PSA's grouped 3/5/7/9 convs, SE, CBAM, CA, BAM, batch norm), and the stem stride of the ResNet/EPSANet families.
/// </summary>
[TestClass]
public sealed class MemoryFormatAndStemTests
{
    private static BackboneOptions Small(int stemStride = 0) => new(NumClasses: 10, InChannels: 1, SmallImage: true, WidthMultiplier: 0.25) { StemStride = stemStride };

    [TestMethod]
    [DataRow("epsanet14", 2)]
    [DataRow("epsanet26", 0)]
    [DataRow("seresnet18", 0)]
    [DataRow("cbam_resnet50", 2)]
    [DataRow("ca_resnet50", 2)]
    [DataRow("bam_resnet50", 2)]
    [DataRow("mobilenetv2_ca", 0)]
    public void ChannelsLastEqualsContiguous(string name, int stride)
    {
        using var scope = Tensor.NewDisposeScope();
        TorchRuntime.ManualSeed(3);
        using var a = ModelRegistry.Create(name, Small(stride));
        using var b = ModelRegistry.Create(name, Small(stride));
        // float64: batch norm over 4 images amplifies float32 rounding (different summation orders) far beyond 1e-4
        a.To(Device.Cpu, DType.Float64);
        b.To(Device.Cpu, DType.Float64);
        b.LoadStateDict(a.StateDict().ToList());
        b.ToMemoryFormat(MemoryFormat.ChannelsLast);
        CollectionAssert.AreEqual(a.StateDict().Select(p => p.Key).ToList(), b.StateDict().Select(p => p.Key).ToList(), "names unchanged");

        var x = Tensor.Randn(new long[] { 4, 1, 28, 28 }).To(DType.Float64);
        var xa = x.Clone().RequiresGrad_();
        var xb = x.ContiguousChannelsLast().RequiresGrad_();
        TorchRuntime.ManualSeed(5);   // the same dropout masks (MobileNetV2's classifier)
        var ya = a.Forward(xa);
        TorchRuntime.ManualSeed(5);
        var yb = b.Forward(xb);
        Fixtures.AssertClose(ya, yb, 1e-9, $"{name}: train-mode logits");
        ya.Sum().Backward();
        yb.Sum().Backward();
        Fixtures.AssertClose(xa.Grad!, xb.Grad!.Contiguous(), 1e-7, $"{name}: input gradient");
        var ga = a.NamedParameters().ToDictionary(p => p.Key, p => p.Value);
        foreach (var (key, p) in b.NamedParameters())
            Fixtures.AssertClose(ga[key].Grad!, p.Grad!.Contiguous(), 1e-6, $"{name}: gradient of {key}");
        // running statistics follow too
        foreach (var (key, t) in b.NamedBuffers().Where(k => k.Key.EndsWith("running_mean", StringComparison.Ordinal)))
            Fixtures.AssertClose(a.NamedBuffers().First(k => k.Key == key).Value, t, 1e-9, $"{name}: {key}");

        a.Eval(); b.Eval();
        using (TorchRuntime.NoGrad())
            Fixtures.AssertClose(a.Forward(x), b.Forward(x.ContiguousChannelsLast()), 1e-9, $"{name}: eval logits");
    }

    [TestMethod]
    public void ToMemoryFormatKeepsIdentityAndValues()
    {
        using var scope = Tensor.NewDisposeScope();
        using var model = ModelRegistry.Create("resnet18", Small());
        var before = model.NamedParameters().ToDictionary(p => p.Key, p => p.Value);
        var values = before.ToDictionary(p => p.Key, p => p.Value.Clone());
        model.ToMemoryFormat(MemoryFormat.ChannelsLast);
        foreach (var (key, p) in model.NamedParameters())
        {
            Assert.AreSame(before[key], p, $"{key}: the same parameter object");
            Fixtures.AssertClose(values[key], p.Contiguous(), 0, key);
        }
        model.ToMemoryFormat(MemoryFormat.Contiguous);
        foreach (var (key, p) in model.NamedParameters())
            Assert.IsTrue(p.IsContiguous, $"{key}: contiguous again");
        Assert.ThrowsExactly<ArgumentOutOfRangeException>(() => model.ToMemoryFormat((MemoryFormat)7));
    }

    [TestMethod]
    public void ChannelsLastHasCanonicalStridesWhereSizeOneDimensionsMakeThemAmbiguous()
    {
        using var scope = Tensor.NewDisposeScope();
        // PyTorch's to(memory_format=torch.channels_last) strides: (C*H*W, 1, W*C, C), also for one channel or 1x1 kernels,
        // whose NCHW strides contiguous(channels_last) would keep (oneDNN reads those as NCHW)
        var gray = Tensor.Randn(new long[] { 8, 1, 28, 28 });
        CollectionAssert.AreEqual(new long[] { 784, 784, 28, 1 }, gray.Strides);
        var cl = gray.Contiguous(MemoryFormat.ChannelsLast);
        CollectionAssert.AreEqual(new long[] { 784, 1, 28, 1 }, cl.Strides);
        Assert.IsTrue(cl.IsCanonicalChannelsLast());
        CollectionAssert.AreEqual(gray.ToArray<float>(), cl.Contiguous().ToArray<float>());
        var pointwise = Tensor.Randn(new long[] { 16, 64, 1, 1 });
        CollectionAssert.AreEqual(new long[] { 64, 1, 64, 64 }, pointwise.Contiguous(MemoryFormat.ChannelsLast).Strides);
        var already = Tensor.Randn(new long[] { 2, 3, 4, 5 }).ContiguousChannelsLast();
        CollectionAssert.AreEqual(new long[] { 60, 1, 15, 3 }, already.Strides);
        Assert.IsFalse(Tensor.Randn(new long[] { 2, 3 }).IsCanonicalChannelsLast());

        // A gray-image backbone in channels-last stays in it from the stem on (it had run its first stage in NCHW).
        using var model = ModelRegistry.Create("epsanet14", Small(2));
        model.ToMemoryFormat(MemoryFormat.ChannelsLast);
        Assert.IsTrue(model.NamedParameters().Where(p => p.Value.Dim == 4).All(p => p.Value.IsCanonicalChannelsLast()), "every conv weight");
        var layouts = new List<(string Module, bool ChannelsLast)>();
        var hooks = model.NamedModules().Where(m => m.Value is BatchNorm2d)
            .Select(m => ((Module<Tensor, Tensor>)m.Value).RegisterForwardHook((Module _, Tensor input, Tensor _) => layouts.Add((m.Key, input.IsCanonicalChannelsLast() || input.Strides[1] == 1)))).ToList();
        model.Forward(cl);
        foreach (var h in hooks) h.Dispose();
        Assert.IsTrue(layouts.Count > 10);
        foreach (var (module, channelsLast) in layouts) Assert.IsTrue(channelsLast, $"{module}'s input is channels-last");
    }

    [TestMethod]
    public void StemStrideHalvesTheStemOutput()
    {
        using var scope = Tensor.NewDisposeScope();
        using var s1 = (ResNet)ModelRegistry.Create("epsanet14", Small());
        using var s2 = (ResNet)ModelRegistry.Create("epsanet14", Small(2));
        var x = Tensor.Randn(new long[] { 1, 1, 28, 28 });
        CollectionAssert.AreEqual(new long[] { 1, 64, 28, 28 }, s1.Conv1.Forward(x).Shape);
        CollectionAssert.AreEqual(new long[] { 1, 64, 14, 14 }, s2.Conv1.Forward(x).Shape);
        Assert.AreEqual(s1.ParameterCount(), s2.ParameterCount(), "the stride changes no weight");
        var (_, macs1) = ModelRegistry.Measure(s1, 1, 28);
        var (_, macs2) = ModelRegistry.Measure(s2, 1, 28);
        Assert.IsTrue(macs2 < macs1 * 0.3, $"stride 2: {macs2:N0} multiply-adds vs {macs1:N0}");
    }

    [TestMethod]
    public void StemStrideIsCheckedAndRefusedByOtherFamilies()
    {
        Assert.ThrowsExactly<ArgumentOutOfRangeException>(() => ModelRegistry.Create("resnet18", Small(5)));
        var e = Assert.ThrowsExactly<ArgumentException>(() => ModelRegistry.Create("mobilenetv2", Small(2)));
        StringAssert.Contains(e.Message, "StemStride");
        StringAssert.Contains(e.Message, "mobilenetv2");
        Assert.IsTrue(ModelRegistry.Get("epsanet50").TakesStemStride);
        Assert.IsTrue(ModelRegistry.Get("seresnet50").TakesStemStride);
        Assert.IsFalse(ModelRegistry.Get("botnet50").TakesStemStride);
    }

    /// <summary>timm's seresnet18 / seresnet34 (ResNet basic blocks with SE r16 after bn2) have 11,778,592 / 21,958,868
    /// parameters; the SENet reference code's SE layer (ours) has no biases in its two FC layers: 2,040 / 4,012 fewer.</summary>
    [TestMethod]
    [DataRow("seresnet18", 11_778_592L - 2_040)]
    [DataRow("seresnet34", 21_958_868L - 4_012)]
    public void SeResNetBasicParameterCounts(string name, long timm)
    {
        using var model = ModelRegistry.Create(name);
        Assert.AreEqual(timm, model.ParameterCount(), $"{name}: {model.ParameterCount():N0} parameters");
    }
}
