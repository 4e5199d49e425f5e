using Google.Protobuf;
using Microsoft.ML.OnnxRuntime;
using Microsoft.ML.OnnxRuntime.Tensors;
using Tensor = MLNet.Attention.Torch.Tensor;
using MLNet.Attention.Torch;
using MLNet.Attention.Torch.Nn;

namespace MLNet.Attention.Tests.Onnx;

/// <summary>Scores ONNX graphs with ONNX Runtime and compares them with the engine's eval output.</summary>
internal static class OnnxTestKit
{
    /// <summary>An ONNX Runtime session on two threads (the machine's cores) with all graph optimizations.</summary>
    public static InferenceSession Session(global::Onnx.ModelProto model)
    {
        using var options = new SessionOptions { IntraOpNumThreads = 2, InterOpNumThreads = 1, LogSeverityLevel = OrtLoggingLevel.ORT_LOGGING_LEVEL_ERROR };
        return new InferenceSession(model.ToByteArray(), options);
    }

    /// <summary>Runs the session on one float input; returns every output as (values, shape), float or int64 (as double).</summary>
    public static List<(double[] Values, long[] Shape)> Run(InferenceSession session, string inputName, float[] data, long[] shape)
    {
        var input = NamedOnnxValue.CreateFromTensor(inputName, new DenseTensor<float>(data, shape.Select(d => (int)d).ToArray()));
        using var results = session.Run(new[] { input });
        var list = new List<(double[], long[])>();
        foreach (var r in results)
        {
            switch (r.Value)
            {
                case DenseTensor<float> f: list.Add((f.ToArray().Select(v => (double)v).ToArray(), f.Dimensions.ToArray().Select(d => (long)d).ToArray())); break;
                case DenseTensor<long> l: list.Add((l.ToArray().Select(v => (double)v).ToArray(), l.Dimensions.ToArray().Select(d => (long)d).ToArray())); break;
                default: throw new AssertFailedException($"output {r.Name} has an unexpected type {r.Value?.GetType().Name}");
            }
        }
        return list;
    }

    /// <summary>Our libtorch eval output on <paramref name="data"/>.</summary>
    public static float[] Eval(Module<Tensor, Tensor> model, float[] data, long[] shape)
    {
        using var scope = Tensor.NewDisposeScope();
        using var noGrad = TorchRuntime.NoGrad();
        model.Eval();
        return model.Forward(Tensor.FromArray(data, shape)).ToArray<float>();
    }

    /// <summary>Deterministic normal samples.</summary>
    public static float[] Randn(int n, int seed)
    {
        var rng = new Random(seed);
        var v = new float[n];
        for (int i = 0; i < n; i++)
            v[i] = (float)(Math.Sqrt(-2 * Math.Log(1 - rng.NextDouble())) * Math.Cos(2 * Math.PI * rng.NextDouble()));
        return v;
    }

    /// <summary>
    /// Gives the batch norms running statistics and affine parameters away from their initial 0/1 (a fresh model's BN is
    /// nearly the identity, which would hide a wrong mapping), deterministically.
    /// </summary>
    public static void Perturb(Module model, int seed)
    {
        TorchRuntime.ManualSeed((ulong)seed);
        using var noGrad = TorchRuntime.NoGrad();
        using var scope = Tensor.NewDisposeScope();
        foreach (var (key, t) in model.StateDict())
        {
            if (!t.DType.IsFloatingPoint()) continue;
            if (key.EndsWith("running_var", StringComparison.Ordinal)) t.Copy_(Tensor.Rand(t.Shape) + 0.5);
            else if (key.EndsWith("running_mean", StringComparison.Ordinal)) t.Copy_(Tensor.Randn(t.Shape) * 0.1);
            else if (key.EndsWith("bias", StringComparison.Ordinal) && t.Dim == 1) t.Add_(Tensor.Randn(t.Shape) * 0.05);
        }
    }

    public static double[] Softmax(double[] logits, int classes)
    {
        var p = new double[logits.Length];
        for (int r = 0; r < logits.Length / classes; r++)
        {
            double max = double.NegativeInfinity, sum = 0;
            for (int c = 0; c < classes; c++) max = Math.Max(max, logits[r * classes + c]);
            for (int c = 0; c < classes; c++) sum += p[r * classes + c] = Math.Exp(logits[r * classes + c] - max);
            for (int c = 0; c < classes; c++) p[r * classes + c] /= sum;
        }
        return p;
    }

    /// <summary>Asserts ORT logits equal ours within <paramref name="rel"/> of the logits' scale and the probabilities within <paramref name="abs"/>.</summary>
    /// <remarks>With <paramref name="exact"/> (the same model in float64), each bound is at least 8x our own float32 error
    /// against it: no float32 engine can be asked to agree with ours more closely than ours agrees with the exact result.</remarks>
    public static void AssertLogitsClose(float[] expected, double[] actual, int classes, double rel, double abs, string what, double[]? exact = null)
    {
        Assert.HasCount(expected.Length, actual, $"{what}: output size");
        double scale = Math.Max(1e-3, expected.Max(v => Math.Abs((double)v)));
        var pe = Softmax(expected.Select(v => (double)v).ToArray(), classes);
        var pa = Softmax(actual, classes);
        double logitBound = rel * scale, probBound = abs;
        if (exact is not null)
        {
            Assert.HasCount(expected.Length, exact, $"{what}: float64 output size");
            var px = Softmax(exact, classes);
            logitBound = Math.Max(logitBound, 8 * expected.Select((v, i) => Math.Abs(v - exact[i])).Max());
            probBound = Math.Max(probBound, 8 * pe.Select((v, i) => Math.Abs(v - px[i])).Max());
            // ORT itself must stay within the same distance of the exact result.
            for (int i = 0; i < exact.Length; i++)
                Assert.IsLessThanOrEqualTo(logitBound, Math.Abs(exact[i] - actual[i]), $"{what}: logit {i} ORT {actual[i]} vs float64 {exact[i]}");
        }
        for (int i = 0; i < expected.Length; i++)
            Assert.IsLessThanOrEqualTo(logitBound, Math.Abs(expected[i] - actual[i]), $"{what}: logit {i} ORT {actual[i]} vs ours {expected[i]} (scale {scale}, bound {logitBound})");
        for (int i = 0; i < pe.Length; i++)
            Assert.IsLessThanOrEqualTo(probBound, Math.Abs(pe[i] - pa[i]), $"{what}: probability {i} ORT {pa[i]} vs ours {pe[i]} (bound {probBound})");
    }

    /// <summary>The model's eval output in float64: a fresh copy (from <paramref name="create"/>) with the same weights.</summary>
    public static double[] EvalFloat64(Module<Tensor, Tensor> model, Func<Module<Tensor, Tensor>> create, float[] data, long[] shape)
    {
        using var copy = create();
        copy.LoadStateDict(model.StateDict().ToList());
        copy.To(Device.Cpu, DType.Float64);
        using var scope = Tensor.NewDisposeScope();
        using var noGrad = TorchRuntime.NoGrad();
        copy.Eval();
        return copy.Forward(Tensor.FromArray(data.Select(v => (double)v).ToArray(), shape)).ToArray<double>();
    }
}
