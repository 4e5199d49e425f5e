using MLNet.Attention.Torch;
using F = MLNet.Attention.Torch.Functional;

namespace MLNet.Attention.Tests;

/// <summary>
/// Every op of the C ABI against PyTorch: outputs and input gradients of sum(out·gout) on the inputs stored in
/// fixtures/ops.safetensors (written by test/reference/make_op_fixtures.py).
/// </summary>
[TestClass]
public sealed class OpParityTests
{
    private const string File = "ops.safetensors";

    private sealed record Case(Func<Tensor[], Tensor[]> Run, ulong? Seed = null, double Rtol = 1e-5);

    private static Tensor[] One(Tensor t) => new[] { t };
    private static Tensor[] Two((Tensor A, Tensor B) t) => new[] { t.A, t.B };
    private static Case C(Func<Tensor[], Tensor> f, double rtol = 1e-5) => new(x => One(f(x)), null, rtol);

    private static readonly Dictionary<string, Case> Cases = new()
    {
        ["conv2d_basic"] = C(x => F.Conv2d(x[0], x[1], x[2], 1, 1)),
        ["conv2d_strided_dilated_grouped"] = C(x => F.Conv2d(x[0], x[1], null, new long[] { 2, 1 }, new long[] { 2, 3 }, new long[] { 2, 1 }, 2)),
        ["conv2d_depthwise_7x7"] = C(x => F.Conv2d(x[0], x[1], null, 2, 3, 1, 4)),
        ["conv1d"] = C(x => F.Conv1d(x[0], x[1], null, 1, 1)),
        ["linear"] = C(x => F.Linear(x[0], x[1], x[2])),
        ["linear_nobias_3d"] = C(x => F.Linear(x[0], x[1])),
        ["matmul_broadcast"] = C(x => x[0].MatMul(x[1])),
        ["bmm"] = C(x => Tensor.Bmm(x[0], x[1])),
        ["batch_norm_train"] = new(x =>
        {
            var rm = x[3].Detach().Clone();
            var rv = x[4].Detach().Clone();
            var y = F.BatchNorm(x[0], rm, rv, x[1], x[2], training: true, momentum: 0.1, eps: 1e-5);
            return new[] { y, rm, rv };
        }),
        ["batch_norm_eval"] = C(x => F.BatchNorm(x[0], x[3], x[4], x[1], x[2], training: false, eps: 1e-3)),
        ["layer_norm"] = C(x => F.LayerNorm(x[0], new long[] { 9, 11 }, x[1], x[2])),
        ["group_norm"] = C(x => F.GroupNorm(x[0], 2, x[1], x[2])),
        ["group_norm_1"] = C(x => F.GroupNorm(x[0], 1, x[1], x[2])),
        ["dropout_train_seeded"] = new(x => One(F.Dropout(x[0], 0.3, training: true)), Seed: 123),
        ["dropout_eval"] = C(x => F.Dropout(x[0], 0.3, training: false)),
        ["relu"] = C(x => F.Relu(x[0])),
        ["relu6"] = C(x => F.Relu6(x[0])),
        ["sigmoid"] = C(x => F.Sigmoid(x[0])),
        ["hardsigmoid"] = C(x => F.Hardsigmoid(x[0])),
        ["hardswish"] = C(x => F.Hardswish(x[0])),
        ["silu"] = C(x => F.Silu(x[0])),
        ["gelu"] = C(x => F.Gelu(x[0])),
        ["gelu_tanh"] = C(x => F.Gelu(x[0], tanhApproximation: true)),
        ["tanh"] = C(x => F.Tanh(x[0])),
        ["leaky_relu"] = C(x => F.LeakyRelu(x[0], 0.2)),
        ["exp"] = C(x => x[0].Exp()),
        ["neg"] = C(x => -x[0]),
        ["abs"] = C(x => x[0].Abs()),
        ["softmax_dim1"] = C(x => F.Softmax(x[0], 1)),
        ["softmax_last"] = C(x => F.Softmax(x[0], -1)),
        ["log_softmax"] = C(x => F.LogSoftmax(x[0], 1)),
        ["log"] = C(x => x[0].Log()),
        ["sqrt"] = C(x => x[0].Sqrt()),
        ["rsqrt"] = C(x => x[0].Rsqrt()),
        ["reciprocal"] = C(x => x[0].Reciprocal()),
        ["square"] = C(x => x[0].Square()),
        ["max_pool2d"] = C(x => F.MaxPool2d(x[0], 3, 2, 1)),
        ["max_pool2d_ceil_dilated"] = C(x => F.MaxPool2d(x[0], new long[] { 2, 3 }, new long[] { 2, 2 }, new long[] { 1, 0 }, new long[] { 1, 2 }, ceilMode: true)),
        ["avg_pool2d"] = C(x => F.AvgPool2d(x[0], 3, 2, 1)),
        ["avg_pool2d_ceil_nopad"] = C(x => F.AvgPool2d(x[0], new long[] { 3 }, new long[] { 2 }, new long[] { 1 }, ceilMode: true, countIncludePad: false)),
        ["avg_pool2d_2x2"] = C(x => F.AvgPool2d(x[0], 2)),
        ["adaptive_avg_pool2d_1"] = C(x => F.AdaptiveAvgPool2d(x[0], 1)),
        ["adaptive_avg_pool2d_3x5"] = C(x => F.AdaptiveAvgPool2d(x[0], 3, 5)),
        ["adaptive_avg_pool2d_none_1"] = C(x => F.AdaptiveAvgPool2d(x[0], null, 1)),
        ["adaptive_avg_pool2d_1_none"] = C(x => F.AdaptiveAvgPool2d(x[0], 1, null)),
        ["adaptive_max_pool2d_1"] = C(x => F.AdaptiveMaxPool2d(x[0], 1)),
        ["adaptive_max_pool2d_none_1"] = C(x => F.AdaptiveMaxPool2d(x[0], null, 1)),
        ["upsample_bilinear_size"] = C(x => F.Interpolate(x[0], 13, 7, InterpolationMode.Bilinear, alignCorners: false)),
        ["upsample_bilinear_align"] = C(x => F.Interpolate(x[0], 13, 17, InterpolationMode.Bilinear, alignCorners: true)),
        ["upsample_bilinear_scale2"] = C(x => F.Interpolate(x[0], 2.0, 2.0, InterpolationMode.Bilinear, alignCorners: false)),
        ["upsample_nearest_size"] = C(x => F.Interpolate(x[0], 5, 20)),
        ["upsample_nearest_scale2"] = C(x => F.Interpolate(x[0], 2.0, 2.0)),
        ["pad_constant"] = C(x => F.Pad(x[0], new long[] { 1, 2, 0, 3 }, PaddingMode.Constant, 0.5)),
        ["pad_reflect"] = C(x => F.Pad(x[0], new long[] { 2, 1, 1, 2 }, PaddingMode.Reflect)),
        ["pad_replicate"] = C(x => F.Pad(x[0], new long[] { 2, 1, 1, 2 }, PaddingMode.Replicate)),
        ["cat_dim1"] = C(x => Tensor.Cat(new[] { x[0], x[1] }, 1)),
        ["stack_dim0"] = C(x => Tensor.Stack(new[] { x[0], x[1] }, 0)),
        ["split_sizes"] = new(x => x[0].Split(new long[] { 1, 3, 5 }, 2)),
        ["split_size"] = new(x => x[0].Split(4, 3)),
        ["chunk"] = new(x => x[0].Chunk(3, 1)),
        ["view"] = C(x => x[0].View(6, 4)),
        ["reshape_permuted"] = C(x => x[0].Permute(2, 0, 1).Reshape(4, -1)),
        ["transpose"] = C(x => x[0].Transpose(0, 2)),
        ["flatten"] = C(x => x[0].Flatten(1)),
        ["expand"] = C(x => x[0].Expand(3, 4, 5)),
        ["unsqueeze_squeeze"] = C(x => x[0].Unsqueeze(1).Squeeze(2)),
        ["index_select"] = C(x => x[0].IndexSelect(1, x[1])),
        ["narrow_select"] = C(x => x[0].Narrow(2, 1, 2).Select(0, 1)),
        ["add_alpha"] = C(x => x[0].Add(x[1], 2.5)),
        ["sub"] = C(x => x[0] - x[1]),
        ["mul"] = C(x => x[0] * x[1]),
        ["div"] = C(x => x[0] / x[1]),
        ["pow_scalar"] = C(x => x[0].Pow(3)),
        ["scalar_ops"] = C(x => ((x[0] + 1.5) * 2 - 0.25) / 4),
        ["rsub_rdiv"] = C(x => (2 - x[0]) + 3 / x[0]),
        ["maximum"] = C(x => x[0].Maximum(x[1])),
        ["clamp"] = C(x => x[0].Clamp(-0.5, 0.7)),
        ["inplace_chain"] = C(x => (x[0] * 1).Add_(x[1], 0.5).Mul_(x[1]).Add_(1.0).Mul_(2.0).Relu_()),
        ["where_masked_fill"] = C(x => Tensor.Where(x[0].Gt(0), x[0], x[1]).MaskedFill(x[0].Lt(-1), 3.0)),
        ["sum_all"] = C(x => x[0].Sum()),
        ["sum_dims_keep"] = C(x => x[0].Sum(new long[] { 2, 3 }, keepDim: true)),
        ["mean_dim"] = C(x => x[0].Mean(1)),
        ["mean_dims"] = C(x => x[0].Mean(new long[] { 0, 2 })),
        ["max_dim"] = new(x => Two(x[0].Max(1))),
        ["amax_dims"] = C(x => x[0].Amax(new long[] { 1, 3 })),
        ["min_dim_keep"] = new(x => Two(x[0].Min(2, keepDim: true))),
        ["argmax"] = C(x => x[0].ArgMax(1)),
        ["topk"] = new(x => Two(x[0].TopK(3, -1))),
        ["var_std"] = new(x => new[] { x[0].Var(new long[] { 2, 3 }), x[0].Std(new long[] { 1 }) }),
        ["big_sum"] = C(x => x[0].Sum(), rtol: 1e-4),
        ["cross_entropy"] = C(x => F.CrossEntropy(x[0], x[1])),
        ["cross_entropy_smooth_weighted"] = C(x => F.CrossEntropy(x[0], x[1], weight: x[2], labelSmoothing: 0.1)),
        ["cross_entropy_sum_ignore"] = C(x => F.CrossEntropy(x[0], x[1], reduction: Reduction.Sum, ignoreIndex: 2)),
        ["cross_entropy_none"] = C(x => F.CrossEntropy(x[0], x[1], reduction: Reduction.None, labelSmoothing: 0.2)),
        ["nll_loss"] = C(x => F.NllLoss(F.LogSoftmax(x[0], 1), x[1], weight: x[2])),
        ["mse_loss"] = C(x => F.MseLoss(x[0], x[1])),
    };

    public static IEnumerable<object[]> FixtureCases() =>
        Fixtures.Load(File).Keys.Select(k => k.Split('/')[0]).Distinct().OrderBy(k => k, StringComparer.Ordinal).Select(k => new object[] { k });

    [TestMethod]
    public void EveryFixtureCaseHasACSharpCounterpart()
    {
        var names = FixtureCases().Select(o => (string)o[0]).ToList();
        Assert.IsTrue(names.Count >= 90, $"only {names.Count} cases in the fixture");
        CollectionAssert.AreEquivalent(names, Cases.Keys.ToList());
    }

    [TestMethod]
    [DynamicData(nameof(FixtureCases))]
    public void MatchesPyTorch(string name)
    {
        var fx = Fixtures.Load(File);
        var c = Cases[name];
        using var scope = Tensor.NewDisposeScope();
        var inputs = new List<Tensor>();
        for (int i = 0; fx.ContainsKey($"{name}/x{i}"); i++)
        {
            var x = fx[$"{name}/x{i}"].Clone();
            if (fx.ContainsKey($"{name}/grad{i}")) x.RequiresGrad = true;
            inputs.Add(x);
        }
        if (c.Seed is ulong seed) TorchRuntime.ManualSeed(seed);
        var outs = c.Run(inputs.ToArray());
        int nOut = 0;
        while (fx.ContainsKey($"{name}/out{nOut}")) nOut++;
        Assert.AreEqual(nOut, outs.Length, "number of outputs");
        Tensor? loss = null;
        for (int j = 0; j < outs.Length; j++)
        {
            Fixtures.AssertClose(fx[$"{name}/out{j}"], outs[j], c.Rtol, $"{name} out{j}");
            if (fx.TryGetValue($"{name}/gout{j}", out var g))
            {
                var term = outs[j].Mul(g).Sum();
                loss = loss is null ? term : loss + term;
            }
        }
        if (loss is null) return;
        loss.Backward();
        int checkedGrads = 0;
        for (int i = 0; i < inputs.Count; i++)
        {
            if (!fx.TryGetValue($"{name}/grad{i}", out var expected)) continue;
            var grad = inputs[i].Grad;
            Assert.IsNotNull(grad, $"{name}: input {i} has no gradient");
            Fixtures.AssertClose(expected, grad, c.Rtol, $"{name} grad{i}");
            checkedGrads++;
        }
        Assert.IsTrue(checkedGrads > 0, $"{name}: no gradient was compared");
    }
}
