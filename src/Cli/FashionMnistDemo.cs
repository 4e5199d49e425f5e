using System.Diagnostics;
using System.Globalization;
using MLNet.Attention.Torch;
using MLNet.Attention.Torch.Nn;
using MLNet.Attention.Torch.Optim;
using MLNet.Attention.Torch.Serialization;
using MLNet.Attention.Transforms;

namespace MLNet.Attention.Cli;

/// <summary>
/// The foundation's end-to-end job: a small squeeze-and-excitation CNN trained on Fashion-MNIST with the tensor
/// engine alone (until the trainers land), evaluated on the 10,000 test images, weights saved as safetensors.
/// </summary>
internal static class FashionMnistDemo
{
    internal sealed record Options(int Epochs, int BatchSize, double LearningRate, int TrainLimit, string? DataFolder, string Output, ulong Seed);

    /// <summary>conv-bn-relu, SE block (seed 000: FC without bias, r=4 here for 32 channels), pooling, classifier.</summary>
    private sealed class SeCnn : Module<Tensor, Tensor>
    {
        private readonly Sequential _features;
        private readonly Linear _fc1, _fc2, _classifier;

        public SeCnn(int classes)
        {
            _features = RegisterModule("features", new Sequential(
                new Conv2d(1, 32, 3, padding: 1, bias: false), new BatchNorm2d(32), new ReLU(inplace: true),
                new Conv2d(32, 32, 3, padding: 1, bias: false), new BatchNorm2d(32), new ReLU(inplace: true), new MaxPool2d(2),
                new Conv2d(32, 64, 3, padding: 1, bias: false), new BatchNorm2d(64), new ReLU(inplace: true), new MaxPool2d(2)));
            _fc1 = RegisterModule("se_fc1", new Linear(64, 16, bias: false));
            _fc2 = RegisterModule("se_fc2", new Linear(16, 64, bias: false));
            _classifier = RegisterModule("classifier", new Linear(64, classes));
        }

        public override Tensor Forward(Tensor input)
        {
            using var scope = Tensor.NewDisposeScope();
            var x = _features.Forward(input);                              // N,64,7,7
            var w = Functional.AdaptiveAvgPool2d(x, 1).Flatten(1);        // squeeze
            w = _fc2.Forward(_fc1.Forward(w).Relu()).Sigmoid();            // excitation
            x = x * w.View(w.Size(0), w.Size(1), 1, 1);                    // scale
            var pooled = Functional.AdaptiveAvgPool2d(x, 1).Flatten(1);
            return _classifier.Forward(pooled).MoveToOuterDisposeScope();
        }
    }

    private const float Mean = 0.2860f, Std = 0.3530f;

    private static (Tensor X, Tensor Y) Batch(IdxDataset d, int[] order, int start, int count)
    {
        int px = d.Height * d.Width;
        var x = new float[count * px];
        var y = new long[count];
        for (int i = 0; i < count; i++)
        {
            int idx = order[start + i];
            var src = d.Images.AsSpan(idx * px, px);
            var dst = x.AsSpan(i * px, px);
            for (int j = 0; j < px; j++) dst[j] = (src[j] / 255f - Mean) / Std;
            y[i] = d.Labels[idx];
        }
        return (Tensor.FromArray<float>(x, new long[] { count, 1, d.Height, d.Width }), Tensor.FromArray<long>(y));
    }

    public static int Run(Options o, TextWriter log)
    {
        var train = IdxDataset.FashionMnist(train: true, o.DataFolder);
        var test = IdxDataset.FashionMnist(train: false, o.DataFolder);
        if (o.TrainLimit > 0) train = train.Take(o.TrainLimit);
        log.WriteLine(string.Create(CultureInfo.InvariantCulture,
            $"MLNet.Attention demo: SE-CNN on Fashion-MNIST ({train.Count} train / {test.Count} test images), libtorch {TorchRuntime.Version}, {TorchRuntime.NumThreads} threads, device cpu"));
        TorchRuntime.ManualSeed(o.Seed);
        var rng = new Random((int)o.Seed);
        using var model = new SeCnn(train.ClassNames.Count);
        log.WriteLine($"parameters: {model.ParameterCount():N0}");
        using var opt = new SGD(model.Parameters(), o.LearningRate, momentum: 0.9, weightDecay: 5e-4, nesterov: true);
        int stepsPerEpoch = (train.Count + o.BatchSize - 1) / o.BatchSize;
        var sched = new OneCycleLR(opt, o.LearningRate, o.Epochs * stepsPerEpoch);
        var order = Enumerable.Range(0, train.Count).ToArray();
        double testAcc = 0;
        for (int epoch = 1; epoch <= o.Epochs; epoch++)
        {
            rng.Shuffle(order);
            model.Train();
            var sw = Stopwatch.StartNew();
            double lossSum = 0;
            long correct = 0;
            for (int start = 0; start < train.Count; start += o.BatchSize)
            {
                int n = Math.Min(o.BatchSize, train.Count - start);
                using var scope = Tensor.NewDisposeScope();
                var (x, y) = Batch(train, order, start, n);
                opt.ZeroGrad();
                var logits = model.Forward(x);
                var loss = Functional.CrossEntropy(logits, y);
                loss.Backward();
                opt.Step();
                sched.Step();
                lossSum += loss.Item() * n;
                correct += (long)logits.ArgMax(1).Eq(y).Sum().Item();
            }
            double seconds = sw.Elapsed.TotalSeconds;
            testAcc = Evaluate(model, test, o.BatchSize * 4);
            log.WriteLine(string.Create(CultureInfo.InvariantCulture,
                $"epoch {epoch}/{o.Epochs}: train loss {lossSum / train.Count:F4}, train acc {100.0 * correct / train.Count:F2}%, test acc {100 * testAcc:F2}%, {train.Count / seconds:F0} images/s ({seconds:F1} s)"));
        }
        model.Save(o.Output, new Dictionary<string, string> { ["arch"] = "se_cnn_demo", ["dataset"] = "fashion-mnist", ["test_accuracy"] = testAcc.ToString("F4", CultureInfo.InvariantCulture) });
        log.WriteLine(string.Create(CultureInfo.InvariantCulture, $"test accuracy {100 * testAcc:F2}%; weights saved to {Path.GetFullPath(o.Output)}"));
        return 0;
    }

    private static double Evaluate(SeCnn model, IdxDataset d, int batch)
    {
        model.Eval();
        var order = Enumerable.Range(0, d.Count).ToArray();
        long correct = 0;
        using var inference = TorchRuntime.InferenceMode();
        for (int start = 0; start < d.Count; start += batch)
        {
            int n = Math.Min(batch, d.Count - start);
            using var scope = Tensor.NewDisposeScope();
            var (x, y) = Batch(d, order, start, n);
            correct += (long)model.Forward(x).ArgMax(1).Eq(y).Sum().Item();
        }
        return (double)correct / d.Count;
    }
}
