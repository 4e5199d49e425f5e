using MLNet.Attention.Torch;
using MLNet.Attention.Torch.Nn;
using MLNet.Attention.Torch.Serialization;

namespace MLNet.Attention.Tests;

/// <summary>
/// A composite module built like test/reference/make_op_fixtures.py's Net: same state-dict keys and order, same
/// default initialisation from the same seed, same outputs in train and eval mode, same running statistics.
/// </summary>
[TestClass]
public sealed class ModuleTests
{
    private sealed class Block : Module
    {
        public readonly Conv2d Conv1;
        public readonly BatchNorm2d Bn1;
        public readonly ReLU Relu;
        public readonly Sequential Se;
        public readonly GroupNorm Gn;

        public Block()
        {
            Conv1 = RegisterModule("conv1", new Conv2d(3, 8, 3, padding: 1, bias: false));
            Bn1 = RegisterModule("bn1", new BatchNorm2d(8));
            Relu = RegisterModule("relu", new ReLU(inplace: true));
            Se = RegisterModule("se", new Sequential(new AdaptiveAvgPool2d(1), new Conv2d(8, 2, 1), new ReLU(), new Conv2d(2, 8, 1), new Sigmoid()));
            Gn = RegisterModule("gn", new GroupNorm(2, 8));
        }
    }

    private sealed class Net : Module<Tensor, Tensor>
    {
        private readonly Block _stem;
        private readonly ModuleList<Module<Tensor, Tensor>> _blocks;
        private readonly LayerNorm _norm;
        private readonly Linear _fc;

        public Net()
        {
            _stem = RegisterModule("stem", new Block());
            _blocks = RegisterModule("blocks", new ModuleList<Module<Tensor, Tensor>>(new Conv2d(8, 8, 3, padding: 1, groups: 2), new BatchNorm2d(8)));
            _norm = RegisterModule("norm", new LayerNorm(new long[] { 8 }));
            _fc = RegisterModule("fc", new Linear(8, 10));
        }

        public override Tensor Forward(Tensor input)
        {
            using var scope = Tensor.NewDisposeScope();
            var s = _stem;
            var x = s.Relu.Forward(s.Bn1.Forward(s.Conv1.Forward(input)));
            x = x * s.Se.Forward(x);
            x = s.Gn.Forward(x);
            x = _blocks[1].Forward(_blocks[0].Forward(x)).Relu();
            x = Functional.AdaptiveAvgPool2d(x, 1).Flatten(1);
            return _fc.Forward(_norm.Forward(x)).MoveToOuterDisposeScope();
        }
    }

    private static Dictionary<string, Tensor> Fx => Fixtures.Load("modules.safetensors");

    [TestMethod]
    public void StateDictKeysAndOrderEqualPyTorch()
    {
        SafeTensors.Read(Fixtures.PathOf("modules.safetensors"), out var meta);
        var expected = meta["keys"].Split(',');
        using var net = new Net();
        var keys = net.StateDict().Select(p => p.Key).ToArray();
        CollectionAssert.AreEqual(expected, keys);
        Assert.AreEqual(23, keys.Length);
    }

    [TestMethod]
    public void DefaultInitialisationFromTheSameSeedEqualsPyTorch()
    {
        TorchRuntime.ManualSeed(7);
        using var net = new Net();
        foreach (var (key, value) in net.StateDict())
            Fixtures.AssertClose(Fx[$"init/{key}"], value, 1e-6, $"init {key}");
    }

    [TestMethod]
    public void ForwardTrainAndEvalMatchPyTorchIncludingRunningStats()
    {
        using var net = new Net();
        var report = net.LoadStateDict(Fx.Where(p => p.Key.StartsWith("init/", StringComparison.Ordinal))
            .Select(p => new KeyValuePair<string, Tensor>(p.Key["init/".Length..], p.Value)));
        Assert.IsTrue(report.IsClean, report.ToString());
        net.Train();
        using (var y = net.Forward(Fx["input"])) Fixtures.AssertClose(Fx["out_train"], y, 1e-5, "train output");
        foreach (var (key, value) in net.StateDict())
            Fixtures.AssertClose(Fx[$"after_train/{key}"], value, 1e-5, $"after train {key}");
        net.Eval();
        using (var y = net.Forward(Fx["input"])) Fixtures.AssertClose(Fx["out_eval"], y, 1e-5, "eval output");
    }

    [TestMethod]
    public void StrictLoadReportsEveryProblemAndChangesNothing()
    {
        using var net = new Net();
        var before = net.StateDict().First(p => p.Key == "fc.weight").Value.ToArray<float>();
        var bad = new List<KeyValuePair<string, Tensor>>
        {
            new("fc.weight", Tensor.Zeros(new long[] { 10, 8 })),
            new("fc.bias", Tensor.Zeros(new long[] { 3 })),
            new("head.weight", Tensor.Zeros(new long[] { 1 })),
        };
        var e = Assert.ThrowsExactly<InvalidOperationException>(() => net.LoadStateDict(bad));
        StringAssert.Contains(e.Message, "missing keys: stem.conv1.weight");
        StringAssert.Contains(e.Message, "unexpected keys: head.weight");
        StringAssert.Contains(e.Message, "fc.bias (module [10], state dict [3])");
        CollectionAssert.AreEqual(before, net.StateDict().First(p => p.Key == "fc.weight").Value.ToArray<float>());

        var report = net.LoadStateDict(bad, strict: false);
        Assert.AreEqual(21, report.MissingKeys.Count);
        CollectionAssert.AreEqual(new[] { "head.weight" }, report.UnexpectedKeys);
        Assert.AreEqual(1, report.ShapeMismatches.Count);
        Assert.IsTrue(net.StateDict().First(p => p.Key == "fc.weight").Value.ToArray<float>().All(v => v == 0));
    }

    [TestMethod]
    public void SaveAndLoadWeightsRoundTripsThroughSafeTensors()
    {
        var path = Path.Combine(Path.GetTempPath(), $"mlnet-attn-{Guid.NewGuid():N}.safetensors");
        try
        {
            TorchRuntime.ManualSeed(1);
            using var a = new Net();
            a.Save(path);
            TorchRuntime.ManualSeed(2);
            using var b = new Net();
            Assert.IsTrue(b.LoadWeights(path).IsClean);
            foreach (var ((ka, va), (kb, vb)) in a.StateDict().Zip(b.StateDict()))
            {
                Assert.AreEqual(ka, kb);
                CollectionAssert.AreEqual(va.ToBytes(), vb.ToBytes(), ka);
            }
        }
        finally
        {
            File.Delete(path);
        }
    }

    [TestMethod]
    public void TrainEvalParametersBuffersAndFreezing()
    {
        using var net = new Net();
        Assert.IsTrue(net.NamedModules().All(m => m.Value.IsTraining));
        net.Eval();
        Assert.IsTrue(net.NamedModules().All(m => !m.Value.IsTraining));
        Assert.AreEqual(17, net.NamedParameters().Count());
        Assert.AreEqual(6, net.NamedBuffers().Count());
        long expected = 3 * 8 * 9 + 8 + 8 + (8 * 2 + 2) + (2 * 8 + 8) + 8 + 8 + (8 * 4 * 9 + 8) + 8 + 8 + 8 + 8 + 8 * 10 + 10;
        Assert.AreEqual(expected, net.ParameterCount());
        net.RequiresGrad(false);
        Assert.AreEqual(0, net.Parameters().Count);
        StringAssert.Contains(net.ToString(), "(conv1): Conv2d(3, 8, kernel_size=(3, 3)");
    }

    [TestMethod]
    public void ToDeviceAndDtypeKeepsTensorIdentity()
    {
        using var lin = new Linear(4, 2);
        var w = lin.Weight;
        lin.To(Device.Cpu, DType.Float64);
        Assert.AreSame(w, lin.Weight);
        Assert.AreEqual(DType.Float64, lin.Weight.DType);
        Assert.IsTrue(lin.Weight.RequiresGrad);
        using var y = lin.Forward(Tensor.Ones(new long[] { 1, 4 }, DType.Float64));
        Assert.AreEqual(DType.Float64, y.DType);
    }
}

[TestClass]
public sealed class FlopCounterTests
{
    [TestMethod]
    public void CountsConvAndLinearMultiplyAdds()
    {
        using var conv = new Conv2d(4, 8, 3, stride: 2, padding: 1, groups: 2);
        using var fc = new Linear(8, 5);
        using var scope = Tensor.NewDisposeScope();
        var x = Tensor.Randn(new long[] { 2, 4, 10, 10 });
        long macs;
        using (var flops = FlopCounter.Start())
        {
            var y = conv.Forward(x);                                   // 2x8x5x5 outputs, 2*9 MACs each
            fc.Forward(Functional.AdaptiveAvgPool2d(y, 1).Flatten(1)); // 2x5 outputs, 8 MACs each
            macs = flops.MultiplyAdds;
        }
        Assert.AreEqual(2L * 8 * 5 * 5 * 2 * 9 + 2 * 5 * 8, macs);
        Assert.IsFalse(FlopCounter.IsActive);
    }
}
