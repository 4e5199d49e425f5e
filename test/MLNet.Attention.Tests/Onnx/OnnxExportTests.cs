using Google.Protobuf;
using MLNet.Attention.Backbones.Models;
using MLNet.Attention.Torch;
using MLNet.Attention.Torch.Nn;
using MLNet.Attention.Torch.Onnx;

namespace MLNet.Attention.Tests.Onnx;

/// <summary>
/// Every registered backbone exports to ONNX and ONNX Runtime scores the graph as our libtorch eval pass does, at batch
/// 1 and 7 from one graph (dynamic batch); channels-last exports the NCHW graph; a wrapper's several outputs
/// (probabilities, an int64 argmax) and constant tensors created in its forward pass export.
/// </summary>
[TestClass]
public sealed class OnnxExportTests
{
    /// <summary>The small form every registered model is exercised in (as RegistryTests): 1 channel, 32×32, 10 classes, width 0.25.</summary>
    internal static readonly BackboneOptions Small = new(NumClasses: 10, InChannels: 1, SmallImage: true, WidthMultiplier: 0.25);

    public static IEnumerable<object[]> AllModels() => ModelRegistry.All.Select(m => new object[] { m.Name });

    [TestMethod]
    [DynamicData(nameof(AllModels))]
    public void OrtScoresTheExportAsOurEvalPassAtBatch1And7(string name)
    {
        TorchRuntime.ManualSeed(11);
        using var model = ModelRegistry.Create(name, Small);
        OnnxTestKit.Perturb(model, 12);
        var proto = OnnxExporter.Export(model, new long[] { 2, 1, 32, 32 });
        Assert.AreEqual("batch", proto.Graph.Input[0].Type.TensorType.Shape.Dim[0].DimParam, $"{name}: symbolic batch");
        var keys = model.StateDict().Select(p => p.Key).ToList();
        CollectionAssert.AreEqual(keys, proto.Graph.Initializer.Take(keys.Count).Select(i => i.Name).ToList(), $"{name}: initializers named by the state-dict keys");
        using var session = OnnxTestKit.Session(proto);
        foreach (int batch in new[] { 1, 7 })
        {
            var shape = new long[] { batch, 1, 32, 32 };
            var x = OnnxTestKit.Randn(batch * 32 * 32, batch);
            var ours = OnnxTestKit.Eval(model, x, shape);
            var ort = OnnxTestKit.Run(session, "input", x, shape);
            CollectionAssert.AreEqual(new long[] { batch, 10 }, ort[0].Shape, $"{name}: ORT output shape at batch {batch}");
            // Deep random nets (seresnet152d, ecaresnet101d, botnet50) are ill-conditioned in float32: two float32 engines
            // can differ by no less than each differs from the exact result (ORT also folds batch norm into the conv weights,
            // another rounding), so the bounds widen to 8x our own measured
            // float32-vs-float64 error when that exceeds 1e-4 of the logits' scale / 1e-5 on probabilities.
            var exact = OnnxTestKit.EvalFloat64(model, () => ModelRegistry.Create(name, Small), x, shape);
            OnnxTestKit.AssertLogitsClose(ours, ort[0].Values, 10, 1e-4, 1e-5, $"{name} batch {batch}", exact);
        }
    }

    [TestMethod]
    [DataRow("epsanet14")]
    [DataRow("cbam_resnet50")]
    [DataRow("mobilenetv2_ca")]
    public void ChannelsLastExportsTheNchwGraph(string name)
    {
        TorchRuntime.ManualSeed(21);
        using var a = ModelRegistry.Create(name, Small);
        using var b = ModelRegistry.Create(name, Small);
        b.LoadStateDict(a.StateDict().ToList());
        b.ToMemoryFormat(MemoryFormat.ChannelsLast);
        var pa = OnnxExporter.Export(a, new long[] { 2, 1, 32, 32 });
        var pb = OnnxExporter.Export(b, new long[] { 2, 1, 32, 32 });
        Assert.AreEqual(pa.Graph.Node.Count, pb.Graph.Node.Count, $"{name}: node count");
        CollectionAssert.AreEqual(pa.ToByteArray(), pb.ToByteArray(), $"{name}: channels-last and NCHW export byte-identical graphs");
    }

    /// <summary>The wrapper the ML.NET layer exports: normalisation with constant tensors, the backbone, softmax and a (N,1) int64 argmax.</summary>
    private sealed class Scorer : Module<Tensor, Tensor>
    {
        private readonly Module<Tensor, Tensor> _backbone;
        public Scorer(Module<Tensor, Tensor> backbone) => _backbone = RegisterModule("backbone", backbone);

        public override Tensor Forward(Tensor input) => Score(input)[0];

        public Tensor[] Score(Tensor input)
        {
            using var mean = Tensor.FromArray(new[] { 0.286f }, 1, 1, 1, 1);
            using var std = Tensor.FromArray(new[] { 0.353f }, 1, 1, 1, 1);
            var logits = _backbone.Forward((input - mean) / std);
            var p = Functional.Softmax(logits, 1);
            return new[] { p, p.ArgMax(1, keepDim: true) };
        }
    }

    [TestMethod]
    public void AWrapperWithProbabilitiesAndAnInt64ArgmaxExports()
    {
        TorchRuntime.ManualSeed(31);
        using var model = new Scorer(ModelRegistry.Create("seresnet18", Small));
        OnnxTestKit.Perturb(model, 32);
        var options = new OnnxExportOptions { OutputNames = new[] { "probabilities", "label" }, GraphName = "scorer" };
        options.Metadata["labels"] = "a,b";
        var proto = OnnxExporter.Export(model, new long[] { 1, 1, 28, 28 }, options, model.Score);
        Assert.AreEqual("scorer", proto.Graph.Name);
        Assert.AreEqual("a,b", OnnxExporter.Metadata(proto, "labels"));
        Assert.AreEqual((int)global::Onnx.TensorProto.Types.DataType.Int64, proto.Graph.Output[1].Type.TensorType.ElemType, "label is int64");
        Assert.HasCount(2, proto.Graph.Output[1].Type.TensorType.Shape.Dim, "label is rank 2 (N,1)");
        using var session = OnnxTestKit.Session(proto);
        foreach (int batch in new[] { 1, 7 })
        {
            var shape = new long[] { batch, 1, 28, 28 };
            var x = OnnxTestKit.Randn(batch * 28 * 28, 40 + batch);
            float[] probs;
            long[] labels;
            using (var scope = Tensor.NewDisposeScope())
            using (TorchRuntime.NoGrad())
            {
                model.Eval();
                var outs = model.Score(Tensor.FromArray(x, shape));
                probs = outs[0].ToArray<float>();
                labels = outs[1].ToArray<long>();
            }
            var ort = OnnxTestKit.Run(session, "input", x, shape);
            CollectionAssert.AreEqual(new long[] { batch, 10 }, ort[0].Shape);
            CollectionAssert.AreEqual(new long[] { batch, 1 }, ort[1].Shape);
            for (int i = 0; i < probs.Length; i++)
                Assert.AreEqual(probs[i], ort[0].Values[i], 1e-5, $"probability {i} at batch {batch}");
            CollectionAssert.AreEqual(labels, ort[1].Values.Select(v => (long)v).ToArray(), $"argmax at batch {batch}");
        }
    }

    [TestMethod]
    public void ExportLeavesTheTrainingFlagsAsTheyWere()
    {
        using var model = ModelRegistry.Create("resnet18", Small);
        var before = model.NamedModules().Select(m => m.Value.IsTraining).ToList();
        Assert.IsTrue(before.All(t => t));
        OnnxExporter.Export(model, new long[] { 1, 1, 32, 32 });
        CollectionAssert.AreEqual(before, model.NamedModules().Select(m => m.Value.IsTraining).ToList());
    }

    [TestMethod]
    [DataRow(17)]
    [DataRow(21)]
    public void OtherOperatorSetsRun(int opset)
    {
        TorchRuntime.ManualSeed(41);
        using var model = ModelRegistry.Create("mobilevitv2_050", Small);
        OnnxTestKit.Perturb(model, 42);
        var proto = OnnxExporter.Export(model, new long[] { 1, 1, 32, 32 }, new OnnxExportOptions { Opset = opset });
        Assert.AreEqual(opset, proto.OpsetImport[0].Version);
        using var session = OnnxTestKit.Session(proto);
        var shape = new long[] { 3, 1, 32, 32 };
        var x = OnnxTestKit.Randn(3 * 32 * 32, 43);
        OnnxTestKit.AssertLogitsClose(OnnxTestKit.Eval(model, x, shape), OnnxTestKit.Run(session, "input", x, shape)[0].Values, 10, 1e-4, 1e-5, $"opset {opset}");
    }
}
