// C# half of the side-by-side benchmark: the models of ../torch_bench.py built from MLNet.Attention.Torch.Nn
// modules, measured with the same protocol and printed in the same format. ../run.sh runs both interleaved.
//
//   convstack  conv3x3(3->64)-bn-relu stem, 4 conv3x3-bn-relu blocks (64, 128/s2, 128, 128/s2), avgpool, fc(10); 32x32 input
//   seresnet   conv3x3(3->64)/s2-bn-relu stem, 3 SE basic blocks (64, 128/s2, 256/s2), avgpool, fc(10); 64x64 input
//
// train: forward, cross-entropy, backward, SGD(momentum 0.9) step, ZeroGrad (set to none), all inside a DisposeScope
// infer: forward in eval mode under InferenceMode, inside a DisposeScope
using System.Diagnostics;
using System.Globalization;
using System.Text.Json;
using MLNet.Attention.Torch;
using MLNet.Attention.Torch.Nn;
using MLNet.Attention.Torch.Optim;
using F = MLNet.Attention.Torch.Functional;

namespace MLNet.Attention.Bench;

/// <summary>conv3x3 (no bias) → batch norm → in-place ReLU, as nn.Sequential(Conv2d, BatchNorm2d, ReLU(inplace=True)).</summary>
internal static class Blocks
{
    internal static Sequential ConvBnRelu(long cin, long cout, long stride) =>
        new(new Conv2d(cin, cout, 3, stride, 1, bias: false), new BatchNorm2d(cout), new ReLU(inplace: true));

    internal static Sequential ConvStack() => new(
        ConvBnRelu(3, 64, 1),
        ConvBnRelu(64, 64, 1),
        ConvBnRelu(64, 128, 2),
        ConvBnRelu(128, 128, 1),
        ConvBnRelu(128, 128, 2),
        new AdaptiveAvgPool2d(1),
        new Flatten(1),
        new Linear(128, Program.NumClasses));
}

/// <summary>Squeeze-and-excitation: pool → fc(C, C/16, no bias) → ReLU → fc(C/16, C, no bias) → sigmoid → scale.</summary>
internal sealed class SqueezeExcite : Module<Tensor, Tensor>
{
    private readonly long _channels;
    private readonly AdaptiveAvgPool2d _pool;
    private readonly Linear _fc1, _fc2;
    private readonly ReLU _relu;
    private readonly Sigmoid _sigmoid;

    internal SqueezeExcite(long channels, long reduction = 16)
    {
        _channels = channels;
        _pool = RegisterModule("pool", new AdaptiveAvgPool2d(1));
        _fc1 = RegisterModule("fc1", new Linear(channels, channels / reduction, bias: false));
        _relu = RegisterModule("relu", new ReLU(inplace: true));
        _fc2 = RegisterModule("fc2", new Linear(channels / reduction, channels, bias: false));
        _sigmoid = RegisterModule("sigmoid", new Sigmoid());
    }

    public override Tensor Forward(Tensor input)
    {
        using var pooled = _pool.Forward(input);
        using var flat = pooled.Flatten(1);
        using var h = _relu.Forward(_fc1.Forward(flat)); // in-place ReLU returns its input
        using var g = _fc2.Forward(h);
        using var s = _sigmoid.Forward(g);
        using var v = s.View(-1, _channels, 1, 1);
        return input.Mul(v);
    }
}

/// <summary>ResNet basic block with an SE block after bn2, before the residual add.</summary>
internal sealed class SEBasicBlock : Module<Tensor, Tensor>
{
    private readonly Conv2d _conv1, _conv2;
    private readonly BatchNorm2d _bn1, _bn2;
    private readonly ReLU _relu;
    private readonly SqueezeExcite _se;
    private readonly Sequential? _downsample;

    internal SEBasicBlock(long cin, long cout, long stride)
    {
        _conv1 = RegisterModule("conv1", new Conv2d(cin, cout, 3, stride, 1, bias: false));
        _bn1 = RegisterModule("bn1", new BatchNorm2d(cout));
        _relu = RegisterModule("relu", new ReLU(inplace: true));
        _conv2 = RegisterModule("conv2", new Conv2d(cout, cout, 3, 1, 1, bias: false));
        _bn2 = RegisterModule("bn2", new BatchNorm2d(cout));
        _se = RegisterModule("se", new SqueezeExcite(cout));
        if (stride != 1 || cin != cout)
            _downsample = RegisterModule("downsample", new Sequential(new Conv2d(cin, cout, 1, stride, 0, bias: false), new BatchNorm2d(cout)));
    }

    public override Tensor Forward(Tensor input)
    {
        Tensor outp;
        using (var c1 = _conv1.Forward(input))
        using (var b1 = _relu.Forward(_bn1.Forward(c1)))
        using (var c2 = _conv2.Forward(b1))
        using (var b2 = _bn2.Forward(c2))
            outp = _se.Forward(b2);
        if (_downsample is null)
        {
            outp.Add_(input);
        }
        else
        {
            using var identity = _downsample.Forward(input);
            outp.Add_(identity);
        }
        return _relu.Forward(outp);
    }
}

/// <summary>A small SE-ResNet: stem, three SE basic blocks (64, 128, 256 channels), global pool, classifier.</summary>
internal sealed class SEResNet : Module<Tensor, Tensor>
{
    private readonly Conv2d _conv1;
    private readonly BatchNorm2d _bn1;
    private readonly ReLU _relu;
    private readonly SEBasicBlock _layer1, _layer2, _layer3;
    private readonly AdaptiveAvgPool2d _pool;
    private readonly Linear _fc;

    internal SEResNet()
    {
        _conv1 = RegisterModule("conv1", new Conv2d(3, 64, 3, 2, 1, bias: false));
        _bn1 = RegisterModule("bn1", new BatchNorm2d(64));
        _relu = RegisterModule("relu", new ReLU(inplace: true));
        _layer1 = RegisterModule("layer1", new SEBasicBlock(64, 64, 1));
        _layer2 = RegisterModule("layer2", new SEBasicBlock(64, 128, 2));
        _layer3 = RegisterModule("layer3", new SEBasicBlock(128, 256, 2));
        _pool = RegisterModule("pool", new AdaptiveAvgPool2d(1));
        _fc = RegisterModule("fc", new Linear(256, Program.NumClasses));
    }

    public override Tensor Forward(Tensor input)
    {
        using var c = _conv1.Forward(input);
        using var x0 = _relu.Forward(_bn1.Forward(c));
        using var x1 = _layer1.Forward(x0);
        using var x2 = _layer2.Forward(x1);
        using var x3 = _layer3.Forward(x2);
        using var p = _pool.Forward(x3);
        using var f = p.Flatten(1);
        return _fc.Forward(f);
    }
}

/// <summary>One measurement (one model, one mode).</summary>
internal sealed record Result(
    string Model, string Mode, int Batch, int Threads, int ImageSize, long Parameters, int Warmup, int Iters,
    double MedianMs, double MeanMs, double MinMs, double MaxMs, double ImagesPerS, double[] TimesMs,
    double RssMbBefore, double RssMbAfter, double ManagedBytesPerIter, int Gen0Collections, int Gen2Collections,
    int LiveTensorsAfterStep);

internal static class Program
{
    internal const int NumClasses = 10;

    private static readonly Dictionary<string, int> ImageSize = new() { ["convstack"] = 32, ["seresnet"] = 64 };

    private static Module<Tensor, Tensor> Build(string name) => name switch
    {
        "convstack" => Blocks.ConvStack(),
        "seresnet" => new SEResNet(),
        _ => throw new ArgumentException($"unknown model '{name}' (convstack, seresnet, all)"),
    };

    private static double RssMb()
    {
        foreach (var line in File.ReadLines("/proc/self/status"))
            if (line.StartsWith("VmRSS:", StringComparison.Ordinal))
                return long.Parse(line.Split(' ', StringSplitOptions.RemoveEmptyEntries)[1], CultureInfo.InvariantCulture) / 1024.0;
        return double.NaN;
    }

    private static Result Measure(string name, string mode, int batch, int warmup, int iters)
    {
        TorchRuntime.ManualSeed(0);
        using var model = Build(name);
        int size = ImageSize[name];
        using var x = Tensor.Randn(new long[] { batch, 3, size, size });
        var rng = new Random(0);
        var labels = new long[batch];
        for (int i = 0; i < batch; i++) labels[i] = rng.Next(NumClasses);
        using var y = Tensor.FromArray<long>(labels, batch);
        long parameters = model.ParameterCount();

        SGD? opt = null;
        Action step;
        int liveAfterStep = 0;
        if (mode == "train")
        {
            model.Train();
            opt = new SGD(model.Parameters(), learningRate: 0.01, momentum: 0.9);
            var o = opt;
            step = () =>
            {
                using var scope = Tensor.NewDisposeScope();
                var logits = model.Forward(x);
                var loss = F.CrossEntropy(logits, y);
                loss.Backward();
                o.Step();
                o.ZeroGrad();
                liveAfterStep = scope.Count;
            };
        }
        else
        {
            model.Eval();
            step = () =>
            {
                using var inference = TorchRuntime.InferenceMode();
                using var scope = Tensor.NewDisposeScope();
                model.Forward(x);
                liveAfterStep = scope.Count;
            };
        }

        try
        {
            for (int i = 0; i < warmup; i++) step();
            GC.Collect();
            GC.WaitForPendingFinalizers();
            double rssBefore = RssMb();
            int gen0 = GC.CollectionCount(0), gen2 = GC.CollectionCount(2);
            long allocated = GC.GetAllocatedBytesForCurrentThread();
            var times = new double[iters];
            for (int i = 0; i < iters; i++)
            {
                long t0 = Stopwatch.GetTimestamp();
                step();
                times[i] = Stopwatch.GetElapsedTime(t0).TotalMilliseconds;
            }
            double managedPerIter = (GC.GetAllocatedBytesForCurrentThread() - allocated) / (double)iters;
            gen0 = GC.CollectionCount(0) - gen0;
            gen2 = GC.CollectionCount(2) - gen2;
            double rssAfter = RssMb();
            var sorted = (double[])times.Clone();
            Array.Sort(sorted);
            double median = sorted.Length % 2 == 1 ? sorted[sorted.Length / 2] : (sorted[sorted.Length / 2 - 1] + sorted[sorted.Length / 2]) / 2;
            return new Result(name, mode, batch, TorchRuntime.NumThreads, size, parameters, warmup, iters,
                median, times.Average(), sorted[0], sorted[^1], batch * 1000.0 / median, times,
                rssBefore, rssAfter, managedPerIter, gen0, gen2, liveAfterStep);
        }
        finally
        {
            opt?.Dispose();
        }
    }

    private static int Main(string[] args)
    {
        string model = "all", mode = "all";
        int batch = 32, threads = 2, warmup = 3, iters = 10;
        string? json = null;
        for (int i = 0; i < args.Length; i++)
        {
            string Next() => i + 1 < args.Length ? args[++i] : throw new ArgumentException($"{args[i]} needs a value");
            switch (args[i])
            {
                case "--model": model = Next(); break;
                case "--mode": mode = Next(); break;
                case "--batch": batch = int.Parse(Next(), CultureInfo.InvariantCulture); break;
                case "--threads": threads = int.Parse(Next(), CultureInfo.InvariantCulture); break;
                case "--warmup": warmup = int.Parse(Next(), CultureInfo.InvariantCulture); break;
                case "--iters": iters = int.Parse(Next(), CultureInfo.InvariantCulture); break;
                case "--json": json = Next(); break;
                case "-h" or "--help":
                    Console.WriteLine("TorchBench [--model convstack|seresnet|all] [--mode train|infer|all] [--batch 32] [--threads 2] [--warmup 3] [--iters 10] [--json out.json]");
                    return 0;
                default:
                    Console.Error.WriteLine($"unknown argument '{args[i]}' (see --help)");
                    return 2;
            }
        }
        if (iters < 1 || warmup < 0 || batch < 1 || threads < 1)
        {
            Console.Error.WriteLine("--iters, --batch and --threads must be >= 1, --warmup >= 0");
            return 2;
        }

        TorchRuntime.NumThreads = threads;
        var models = model == "all" ? new[] { "convstack", "seresnet" } : new[] { model };
        var modes = mode == "all" ? new[] { "train", "infer" } : new[] { mode };
        var results = new List<Result>();
        foreach (var m in models)
            foreach (var md in modes)
            {
                var r = Measure(m, md, batch, warmup, iters);
                results.Add(r);
                Console.WriteLine(string.Create(CultureInfo.InvariantCulture,
                    $"csharp   {m,-10} {md,-6} batch={r.Batch} threads={r.Threads} iters={r.Iters} median={r.MedianMs:F2} ms  min={r.MinMs:F2} ms  {r.ImagesPerS:F1} img/s  " +
                    $"rss {r.RssMbBefore:F0}->{r.RssMbAfter:F0} MB  managed {r.ManagedBytesPerIter / 1024:F1} KiB/iter  gc0={r.Gen0Collections} gc2={r.Gen2Collections}  live tensors after step={r.LiveTensorsAfterStep}"));
            }

        if (json is not null)
        {
            using var stream = File.Create(json);
            using var w = new Utf8JsonWriter(stream, new JsonWriterOptions { Indented = true });
            w.WriteStartObject();
            w.WriteString("impl", "csharp");
            w.WriteString("runtime", $".NET {Environment.Version}");
            w.WriteString("torch", TorchRuntime.Version);
            w.WriteStartArray("results");
            foreach (var r in results)
            {
                w.WriteStartObject();
                w.WriteString("model", r.Model);
                w.WriteString("mode", r.Mode);
                w.WriteNumber("batch", r.Batch);
                w.WriteNumber("threads", r.Threads);
                w.WriteNumber("image_size", r.ImageSize);
                w.WriteNumber("parameters", r.Parameters);
                w.WriteNumber("warmup", r.Warmup);
                w.WriteNumber("iters", r.Iters);
                w.WriteNumber("median_ms", r.MedianMs);
                w.WriteNumber("mean_ms", r.MeanMs);
                w.WriteNumber("min_ms", r.MinMs);
                w.WriteNumber("max_ms", r.MaxMs);
                w.WriteNumber("images_per_s", r.ImagesPerS);
                w.WriteStartArray("times_ms");
                foreach (var t in r.TimesMs) w.WriteNumberValue(t);
                w.WriteEndArray();
                w.WriteNumber("rss_mb_before", r.RssMbBefore);
                w.WriteNumber("rss_mb_after", r.RssMbAfter);
                w.WriteNumber("managed_bytes_per_iter", r.ManagedBytesPerIter);
                w.WriteNumber("gen0_collections", r.Gen0Collections);
                w.WriteNumber("gen2_collections", r.Gen2Collections);
                w.WriteNumber("live_tensors_after_step", r.LiveTensorsAfterStep);
                w.WriteEndObject();
            }
            w.WriteEndArray();
            w.WriteEndObject();
        }
        return 0;
    }
}
