using MLNet.Attention.Torch;
using MLNet.Attention.Torch.Serialization;

namespace MLNet.Attention.Tests;

/// <summary>Loads the committed fixtures written by test/reference/*.py.</summary>
internal static class Fixtures
{
    public static string PathOf(params string[] parts) => Path.Combine(new[] { AppContext.BaseDirectory, "fixtures" }.Concat(parts).ToArray());

    private static readonly Dictionary<string, Dictionary<string, Tensor>> Cache = new();

    /// <summary>All tensors of a fixture file, by name (cached, not disposed: they live for the test run).</summary>
    public static Dictionary<string, Tensor> Load(string file)
    {
        lock (Cache)
        {
            if (!Cache.TryGetValue(file, out var d))
            {
                d = TensorSerialization.LoadSafeTensors(PathOf(file)).ToDictionary(p => p.Key, p => p.Value);
                Cache[file] = d;
            }
            return d;
        }
    }

    /// <summary>max|a-b| / max(max|b|, 1e-6) for float tensors, exact equality otherwise.</summary>
    public static void AssertClose(Tensor expected, Tensor actual, double rtol, string what)
    {
        CollectionAssert.AreEqual(expected.Shape, actual.Shape, $"{what}: shape");
        Assert.AreEqual(expected.DType, actual.DType, $"{what}: dtype");
        if (!expected.DType.IsFloatingPoint())
        {
            CollectionAssert.AreEqual(expected.ToBytes(), actual.ToBytes(), $"{what}: values");
            return;
        }
        var e = expected.To(DType.Float64).ToArray<double>();
        var a = actual.To(DType.Float64).ToArray<double>();
        double maxErr = 0, scale = 1e-6;
        for (int i = 0; i < e.Length; i++)
        {
            if (double.IsNaN(a[i]) != double.IsNaN(e[i])) Assert.Fail($"{what}: NaN mismatch at {i}");
            maxErr = Math.Max(maxErr, Math.Abs(a[i] - e[i]));
            scale = Math.Max(scale, Math.Abs(e[i]));
        }
        Assert.IsTrue(maxErr / scale <= rtol, $"{what}: relative error {maxErr / scale:E3} > {rtol:E0} (max abs err {maxErr:E3}, scale {scale:E3})");
    }
}
