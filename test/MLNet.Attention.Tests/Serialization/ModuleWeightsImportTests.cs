using MLNet.Attention.Torch;
using MLNet.Attention.Torch.Nn;
using MLNet.Attention.Torch.Serialization;

namespace MLNet.Attention.Tests.Serialization;

/// <summary>Module.LoadWeights on files written by PyTorch's torch.save (test/reference/make_serialization_fixtures.py).</summary>
[TestClass]
public sealed class ModuleWeightsImportTests
{
    /// <summary>The fixture's Tiny: conv (3→4, k3, bias), bn (4), fc (4→2).</summary>
    private sealed class Tiny : Module
    {
        public Tiny()
        {
            RegisterModule("conv", new Conv2d(3, 4, 3));
            RegisterModule("bn", new BatchNorm2d(4));
            RegisterModule("fc", new Linear(4, 2));
        }
    }

    private static string Pth(string name) => Fixtures.PathOf("serialization", name);

    [TestMethod]
    [DataRow("bare_state_dict.pth")]
    [DataRow("wrapped_state_dict.pth")]
    public void LoadsPyTorchCheckpointIntoModule(string file)
    {
        using var net = new Tiny();
        var report = net.LoadWeights(Pth(file));
        Assert.IsTrue(report.IsClean, report.ToString());
        var expected = PyTorchCheckpoint.LoadStateDict(Pth("bare_state_dict.pth"));
        var mine = net.StateDict();
        CollectionAssert.AreEqual(expected.Select(p => p.Key).ToList(), mine.Select(p => p.Key).ToList());
        foreach (var ((k, raw), (_, t)) in expected.Zip(mine))
            CollectionAssert.AreEqual(raw.Data, t.ToBytes(), k);
        Assert.AreEqual(1L, mine.First(p => p.Key == "bn.num_batches_tracked").Value.Item<long>());
    }

    [TestMethod]
    public void WithoutPrefixStrippingTheReportNamesEveryKey()
    {
        using var net = new Tiny();
        var e = Assert.ThrowsExactly<InvalidOperationException>(() => net.LoadWeights(Pth("wrapped_state_dict.pth"), stripModulePrefix: false));
        StringAssert.Contains(e.Message, "wrapped_state_dict.pth");
        StringAssert.Contains(e.Message, "unexpected keys: module.conv.weight");
        StringAssert.Contains(e.Message, "missing keys: conv.weight");
        var report = net.LoadWeights(Pth("wrapped_state_dict.pth"), strict: false, stripModulePrefix: false);
        Assert.AreEqual(report.MissingKeys.Count, report.UnexpectedKeys.Count);
    }

    [TestMethod]
    public void ShapeMismatchIsReportedAndNothingIsCopied()
    {
        using var net = new Module2();
        var before = net.StateDict().Select(p => p.Value.ToBytes()).ToList();
        var e = Assert.ThrowsExactly<InvalidOperationException>(() => net.LoadWeights(Pth("bare_state_dict.pth")));
        StringAssert.Contains(e.Message, "fc.weight (module [3, 4], state dict [2, 4])");
        CollectionAssert.AreEqual(before.SelectMany(b => b).ToArray(), net.StateDict().SelectMany(p => p.Value.ToBytes()).ToArray());
    }

    private sealed class Module2 : Module
    {
        public Module2()
        {
            RegisterModule("conv", new Conv2d(3, 4, 3));
            RegisterModule("bn", new BatchNorm2d(4));
            RegisterModule("fc", new Linear(4, 3));
        }
    }

    [TestMethod]
    public void ForeignAndTruncatedFilesGiveClearErrors()
    {
        var dir = Directory.CreateTempSubdirectory("mlnet-weights-");
        try
        {
            using var net = new Tiny();
            var foreign = Path.Combine(dir.FullName, "notes.pth");
            File.WriteAllText(foreign, "these are not weights");
            var e = Assert.ThrowsExactly<InvalidDataException>(() => net.LoadWeights(foreign));
            StringAssert.Contains(e.Message, foreign);
            var truncated = Path.Combine(dir.FullName, "cut.pth");
            var bytes = File.ReadAllBytes(Pth("bare_state_dict.pth"));
            File.WriteAllBytes(truncated, bytes.AsSpan(0, bytes.Length / 2).ToArray());
            e = Assert.ThrowsExactly<InvalidDataException>(() => net.LoadWeights(truncated));
            StringAssert.Contains(e.Message, truncated);
            Assert.ThrowsExactly<FileNotFoundException>(() => net.LoadWeights(Path.Combine(dir.FullName, "absent.safetensors")));
        }
        finally
        {
            dir.Delete(true);
        }
    }
}
