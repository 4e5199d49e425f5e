using MLNet.Attention.Backbones.Layers;
using MLNet.Attention.Torch;
using MLNet.Attention.Torch.Nn;
using MLNet.Attention.Torch.Serialization;

namespace MLNet.Attention.Tests.Backbones;

/// <summary>The seed's row/column separable self-attention against test/reference/make_axial_fixture.py.</summary>
[TestClass]
public sealed class AxialSelfAttentionTests
{
    [TestMethod]
    public void MatchesPyTorchForwardAndInputGradient()
    {
        var fx = Fixtures.Load("axial.safetensors");
        SafeTensors.Read(Fixtures.PathOf("axial.safetensors"), out var meta);
        using var layer = new AxialSelfAttention(32, 4);
        CollectionAssert.AreEqual(meta["keys"].Split(','), layer.StateDict().Select(p => p.Key).ToArray());
        Assert.IsTrue(layer.LoadStateDict(fx.Where(p => p.Key.StartsWith("sd/", StringComparison.Ordinal))
            .Select(p => new KeyValuePair<string, Tensor>(p.Key[3..], p.Value))).IsClean);
        using var scope = Tensor.NewDisposeScope();
        var x = fx["x"].Clone().RequiresGrad_();
        var y = layer.Forward(x);
        Fixtures.AssertClose(fx["out"], y, 1e-5, "output");
        y.Mul(fx["gout"]).Sum().Backward();
        Fixtures.AssertClose(fx["grad"], x.Grad!, 1e-5, "input gradient");
    }

    [TestMethod]
    public void FactoryBuildsItAndCountsItsMultiplyAdds()
    {
        using var layer = AttentionFactory.Create("axial", 16);
        Assert.IsInstanceOfType<AxialSelfAttention>(layer);
        Assert.AreEqual(4, ((AxialSelfAttention)layer).Heads);
        using var scope = Tensor.NewDisposeScope();
        var x = Tensor.Randn(new long[] { 1, 16, 5, 6 });
        long macs;
        using (var flops = FlopCounter.Start())
        {
            CollectionAssert.AreEqual(x.Shape, layer.Forward(x).Shape);
            macs = flops.MultiplyAdds;
        }
        long convs = 5 * 6 * 16 * 48 + 5 * 6 * 16 * 16;
        Assert.AreEqual(convs + 2L * 4 * 5 * 6 * (6 + 5) * 4, macs);
        Assert.ThrowsExactly<ArgumentException>(() => new AxialSelfAttention(30, 4));
    }
}
