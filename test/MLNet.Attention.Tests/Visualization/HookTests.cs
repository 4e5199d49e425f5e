using System.Diagnostics;
using MLNet.Attention.Backbones.Models;
using MLNet.Attention.Torch;
using MLNet.Attention.Torch.Nn;
using MLNet.Attention.Visualization;

namespace MLNet.Attention.Tests.Visualization;

/// <summary>
/// Forward and intermediate hooks on modules: outputs are identical with and without them, every handle removes its
/// hook, composite blocks inside containers fire, a hook can replace an output, and capturing leaks nothing.
/// </summary>
[TestClass]
public sealed class HookTests : OneThreadTest
{
    internal static readonly BackboneOptions Tiny = new(NumClasses: 10, InChannels: 1, SmallImage: true, WidthMultiplier: 0.125);
    internal static readonly string[] AttentionModels = { "seresnet50", "epsanet50", "cbam_resnet50", "bam_resnet50", "ca_resnet50", "attention56", "mobilenetv2_ca", "c2f_ca_cls_n" };

    public static IEnumerable<object[]> Models() => AttentionModels.Select(m => new object[] { m });

    internal static Module<Tensor, Tensor> Build(string name, ulong seed = 1)
    {
        TorchRuntime.ManualSeed(seed);
        var m = ModelRegistry.Create(name, Tiny);
        // A few training-mode passes give the batch norms running statistics that are not the identity.
        using (var scope = Tensor.NewDisposeScope())
        using (TorchRuntime.NoGrad())
            for (int i = 0; i < 2; i++) m.Forward(Tensor.Randn(new long[] { 4, 1, 28, 28 }));
        m.Eval();
        return m;
    }

    private static byte[] Run(Module<Tensor, Tensor> m, Tensor x)
    {
        using var scope = Tensor.NewDisposeScope();
        using var ng = TorchRuntime.NoGrad();
        return m.Forward(x).ToBytes();
    }

    [TestMethod]
    [DynamicData(nameof(Models))]
    public void OutputsAreIdenticalWithAndWithoutHooksAndEveryHandleRemovesItsHook(string name)
    {
        using var model = Build(name);
        TorchRuntime.ManualSeed(9);
        using var x = Tensor.Randn(new long[] { 2, 1, 28, 28 });
        var before = Run(model, x);
        int forwardCalls = 0, reports = 0;
        var handles = new List<IDisposable>();
        foreach (var (_, m) in model.NamedModules())
        {
            handles.Add(m.RegisterForwardHook((mod, input, output) => { forwardCalls++; _ = output.Shape; }));
            handles.Add(m.RegisterIntermediateHook((mod, what, value) => { reports++; using var c = value.Detach().Clone(); }));
        }
        var with = Run(model, x);
        Assert.IsTrue(forwardCalls > 20, $"{name}: forward hooks fired {forwardCalls} times");
        Assert.IsTrue(reports > 0, $"{name}: the attention layers reported nothing");
        CollectionAssert.AreEqual(before, with, $"{name}: hooks changed the output");
        Assert.IsTrue(model.NamedModules().All(p => p.Value.HasHooks));
        foreach (var h in handles) h.Dispose();
        foreach (var h in handles) h.Dispose();   // twice is harmless
        Assert.IsFalse(model.NamedModules().Any(p => p.Value.HasHooks), $"{name}: a hook survived its handle");
        CollectionAssert.AreEqual(before, Run(model, x), $"{name}: output after removing the hooks");
    }

    [TestMethod]
    public void BlocksInsideContainersLeavesAndTheirContainersFireOncePerCall()
    {
        using var model = Build("seresnet50");
        var fired = new Dictionary<string, int>();
        var handles = model.NamedModules().Where(p => p.Key.Length > 0)
            .Select(p => p.Value.RegisterForwardHook((m, i, o) => fired[p.Key] = fired.GetValueOrDefault(p.Key) + 1)).ToList();
        using (var x = Tensor.Randn(new long[] { 1, 1, 28, 28 })) Run(model, x);
        foreach (var h in handles) h.Dispose();
        Assert.AreEqual(1, fired["layer1"], "a stage (Sequential)");
        Assert.AreEqual(1, fired["layer1.0"], "a bottleneck block, run by its Sequential");
        Assert.AreEqual(1, fired["layer4.2"], "the last block");
        Assert.AreEqual(1, fired["layer2.0.se"], "the SE layer fires itself, once");
        Assert.AreEqual(1, fired["layer2.0.se.fc.3"], "the SE gate's sigmoid");
        Assert.AreEqual(1, fired["conv1"]);
        Assert.AreEqual(1, fired["avgpool"]);
        Assert.AreEqual(1, fired["fc"]);
        // torchvision's Bottleneck runs its one ReLU module more than once: a shared module fires per call
        Assert.IsTrue(fired["layer3.4.relu"] >= 2, "the block's shared ReLU fires per call");
        Assert.IsTrue(fired.Where(p => !p.Key.EndsWith(".relu", StringComparison.Ordinal)).All(p => p.Value == 1),
            "no other module fired twice: " + string.Join(", ", fired.Where(p => p.Value != 1 && !p.Key.EndsWith(".relu", StringComparison.Ordinal)).Select(p => p.Key)));
    }

    [TestMethod]
    public void AHookCanReplaceAnOutputAndOnlyWhileRegistered()
    {
        using var model = Build("cbam_resnet50");
        using var x = Tensor.Randn(new long[] { 1, 1, 28, 28 });
        var fc = model.NamedModules().First(p => p.Key == "fc").Value;
        using (fc.RegisterForwardHook((m, i, o) => o * 0 + 3))
        {
            var y = Run(model, x);
            var f = new float[y.Length / 4];
            Buffer.BlockCopy(y, 0, f, 0, y.Length);
            Assert.IsTrue(f.All(v => v == 3), "the caller received the replacement");
        }
        var after = Run(model, x);
        var g = new float[after.Length / 4];
        Buffer.BlockCopy(after, 0, g, 0, after.Length);
        Assert.IsFalse(g.All(v => v == 3));
        // two hooks: the second sees the first one's replacement; removing one leaves the other
        var seq = new Sequential(new Linear(2, 2), new ReLU());
        var seen = new List<float>();
        var h1 = seq[0].RegisterForwardHook((m, i, o) => Tensor.Full(new long[] { 1, 2 }, 5.0));
        var h2 = seq[0].RegisterForwardHook((m, i, o) => seen.Add(o.ToArray<float>()[0]));
        using (var input = Tensor.Ones(new long[] { 1, 2 })) Assert.AreEqual(5f, seq.Forward(input).ToArray<float>()[0]);
        h1.Dispose();
        Assert.IsTrue(seq[0].HasHooks);
        h2.Dispose();
        Assert.IsFalse(seq[0].HasHooks);
        CollectionAssert.AreEqual(new[] { 5f }, seen);
    }

    [TestMethod]
    public void CapturingAgainAndAgainKeepsMemoryFlatAndLeavesNoHooks()
    {
        using var model = Build("cbam_resnet50");
        using var x = Tensor.Randn(new long[] { 1, 1, 28, 28 });
        for (int i = 0; i < 20; i++) { AttentionMaps.Capture(model, x); GradCam.Compute(model, x); }
        GC.Collect();
        GC.WaitForPendingFinalizers();
        long rss0 = Process.GetCurrentProcess().WorkingSet64;
        for (int i = 0; i < 150; i++)
        {
            var c = AttentionMaps.Capture(model, x);
            Assert.AreEqual(32, c.Channel.Count + c.Spatial.Count);
            GradCam.Compute(model, x);
        }
        GC.Collect();
        GC.WaitForPendingFinalizers();
        long grown = Process.GetCurrentProcess().WorkingSet64 - rss0;
        Assert.IsTrue(grown < 40L << 20, $"150 captures and Grad-CAMs grew the process by {grown >> 20} MB");
        Assert.IsFalse(model.NamedModules().Any(p => p.Value.HasHooks));
        Assert.IsTrue(model.NamedParameters().All(p => p.Value.RequiresGrad), "parameters unfrozen again");
        Assert.IsTrue(model.NamedParameters().All(p => p.Value.Grad is null), "Grad-CAM computed no weight gradients");
    }
}
