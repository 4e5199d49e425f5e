// C# half of the side-by-side benchmark: the models of ../torch_bench.py built from MLNet.Attention.Torch.Nn
// modules, measured with the same protocol and printed in the same format. ../run.sh runs both interleaved.
//
//   convstack  conv3x3(3->64)-bn-relu stem, 4 conv3x3-bn-relu blocks (64, 128/s2, 128, 128/s2), avgpool, fc(10); 32x32 input
//   seresnet   conv3x3(3->64)/s2-bn-relu stem, 3 SE basic blocks (64, 128/s2, 256/s2), avgpool, fc(10); 64x64 input
//
//   overhead   not a model: 1000 additions of 1-element tensors per iteration, so its ms/iteration is µs per op call
//
// train: forward, cross-entropy, backward, SGD(momentum 0.9) step, ZeroGrad (set to none), all inside a DisposeScope
// infer: forward in eval mode under InferenceMode, inside a DisposeScope
// Each: warm-up iterations, then timed iterations, each timed alone; median ms and images/s.
using System.Diagnostics;
using System.Globalization;
using System.Runtime.InteropServices;
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

/// <summary>Chaining helper for the forward passes below.</summary>
internal static class Chain
{
    /// <summary>
    /// Returns <paramref name="next"/> after disposing <paramref name="previous"/> (unless an in-place layer returned
    /// it), so that an intermediate is released as soon as it is consumed, as the reference counting of the Python
    /// version does (autograd keeps alive what backward needs on its own).
    /// </summary>
    internal static Tensor Then(Tensor previous, Tensor next)
    {
        if (!ReferenceEquals(previous, next)) previous.Dispose();
        return next;
    }
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
        var s = _pool.Forward(input);
        s = Chain.Then(s, s.Flatten(1));
        s = Chain.Then(s, _fc1.Forward(s));
        s = _relu.Forward(s); // in place
        s = Chain.Then(s, _fc2.Forward(s));
        s = Chain.Then(s, _sigmoid.Forward(s));
        using var scale = Chain.Then(s, s.View(-1, _channels, 1, 1));
        return input.Mul(scale);
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
        var x = _conv1.Forward(input);
        x = Chain.Then(x, _bn1.Forward(x));
        x = _relu.Forward(x); // in place
        x = Chain.Then(x, _conv2.Forward(x));
        x = Chain.Then(x, _bn2.Forward(x));
        x = Chain.Then(x, _se.Forward(x));
        if (_downsample is null)
        {
            x.Add_(input);
        }
        else
        {
            using var identity = _downsample.Forward(input);
            x.Add_(identity);
        }
        return _relu.Forward(x); // in place
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
        var x = _conv1.Forward(input);
        x = Chain.Then(x, _bn1.Forward(x));
        x = _relu.Forward(x); // in place
        x = Chain.Then(x, _layer1.Forward(x));
        x = Chain.Then(x, _layer2.Forward(x));
        x = Chain.Then(x, _layer3.Forward(x));
        x = Chain.Then(x, _pool.Forward(x));
        x = Chain.Then(x, x.Flatten(1));
        return Chain.Then(x, _fc.Forward(x));
    }
}

/// <summary>One measurement (one model, one mode).</summary>
internal sealed record Result(
    string Model, string Mode, int Batch, int Threads, int ImageSize, long Parameters, int Warmup, int Iters,
    double MedianMs, double MeanMs, double MinMs, double MaxMs, double ImagesPerS, double[] TimesMs,
    double RssMbBefore, double RssMbAfter, double HeapMbBefore, double HeapMbAfter, double MinorFaultsPerIter, double ManagedBytesPerIter, int Gen0Collections, int Gen2Collections,
    int LiveTensorsAfterStep);

internal static class Program
{
    internal const int NumClasses = 10;

    private static readonly Dictionary<string, int> ImageSize = new() { ["convstack"] = 32, ["seresnet"] = 64 };

    private static Module<Tensor, Tensor> Build(string name) => name switch
    {
        "convstack" => Blocks.ConvStack(),
        "seresnet" => new SEResNet(),
        _ => throw new ArgumentException($"unknown model '{name}' (convstack, seresnet, overhead, all)"),
    };

    private static double RssMb()
    {
        foreach (var line in File.ReadLines("/proc/self/status"))
            if (line.StartsWith("VmRSS:", StringComparison.Ordinal))
                return long.Parse(line.Split(' ', StringSplitOptions.RemoveEmptyEntries)[1], CultureInfo.InvariantCulture) / 1024.0;
        return double.NaN;
    }

    [StructLayout(LayoutKind.Sequential)]
    private struct MallInfo2
    {
        public nuint Arena, Ordblks, Smblks, Hblks, Hblkhd, Usmblks, Fsmblks, Uordblks, Fordblks, Keepcost;
    }

    [DllImport("libc", EntryPoint = "mallinfo2")]
    private static extern MallInfo2 NativeMallInfo2();

    /// <summary>
    /// Bytes the C heap has handed out and not taken back (glibc mallinfo2: in-use chunks of every arena plus mmapped
    /// blocks). Unlike RSS it does not move with fragmentation or trimming, so equal values before and after the
    /// timed loop mean no native memory was leaked.
    /// </summary>
    private static double HeapInUseMb()
    {
        try
        {
            var m = NativeMallInfo2();
            return (m.Uordblks + m.Hblkhd) / (1024.0 * 1024.0);
        }
        catch (EntryPointNotFoundException)
        {
            return double.NaN;
        }
    }

    /// <summary>Minor page faults of this process so far (/proc/self/stat field 10).</summary>
    private static long MinorFaults()
    {
        var stat = File.ReadAllText("/proc/self/stat");
        var fields = stat[(stat.LastIndexOf(')') + 2)..].Split(' ');
        return long.Parse(fields[7], CultureInfo.InvariantCulture);
    }

    /// <summary>Small ops per iteration of the "overhead" pseudo-model.</summary>
    internal const int OverheadOps = 1000;

    /// <summary>
    /// Builds one step of <paramref name="name"/> in <paramref name="mode"/>. The step returns the number of
    /// tensors still registered in its dispose scope at its end when asked to probe (outside the timed loop).
    /// </summary>
    private static Func<bool, int> BuildStep(string name, string mode, int batch, List<IDisposable> owned, out int imageSize, out long parameters)
    {
        if (name == "overhead")
        {
            // Per-op cost of the binding: OverheadOps additions of 1-element tensors, recording autograd
            // ("train") or under inference mode ("infer"). One iteration's milliseconds are microseconds per op.
            imageSize = 0;
            parameters = 0;
            var a = Tensor.Ones(new long[] { 1 }, requiresGrad: mode == "train");
            var b = Tensor.Ones(new long[] { 1 });
            owned.Add(a);
            owned.Add(b);
            if (mode == "train")
                return probe =>
                {
                    using var scope = Tensor.NewDisposeScope();
                    for (int i = 0; i < OverheadOps; i++) a.Add(b).Dispose();
                    return probe ? scope.Count : 0;
                };
            return probe =>
            {
                using var inference = TorchRuntime.InferenceMode();
                using var scope = Tensor.NewDisposeScope();
                for (int i = 0; i < OverheadOps; i++) a.Add(b).Dispose();
                return probe ? scope.Count : 0;
            };
        }

        var model = Build(name);
        owned.Add(model);
        imageSize = ImageSize[name];
        var x = Tensor.Randn(new long[] { batch, 3, imageSize, imageSize });
        owned.Add(x);
        var rng = new Random(0);
        var labels = new long[batch];
        for (int i = 0; i < batch; i++) labels[i] = rng.Next(NumClasses);
        var y = Tensor.FromArray<long>(labels, batch);
        owned.Add(y);
        parameters = model.ParameterCount();

        if (mode == "train")
        {
            model.Train();
            var opt = new SGD(model.Parameters(), learningRate: 0.01, momentum: 0.9);
            owned.Add(opt);
            return probe =>
            {
                using var scope = Tensor.NewDisposeScope();
                var logits = model.Forward(x);
                var loss = F.CrossEntropy(logits, y);
                loss.Backward();
                opt.Step();
                opt.ZeroGrad();
                return probe ? scope.Count : 0;
            };
        }
        model.Eval();
        return probe =>
        {
            using var inference = TorchRuntime.InferenceMode();
            using var scope = Tensor.NewDisposeScope();
            model.Forward(x);
            return probe ? scope.Count : 0;
        };
    }

    private static Result Measure(string name, string mode, int batch, int warmup, int iters)
    {
        TorchRuntime.ManualSeed(0);
        var owned = new List<IDisposable>();
        try
        {
            var step = BuildStep(name, mode, batch, owned, out int size, out long parameters);
            for (int i = 0; i < warmup; i++) step(false);
            GC.Collect();
            GC.WaitForPendingFinalizers();
            double rssBefore = RssMb(), heapBefore = HeapInUseMb();
            int gen0 = GC.CollectionCount(0), gen2 = GC.CollectionCount(2);
            long allocated = GC.GetAllocatedBytesForCurrentThread();
            long faults = MinorFaults();
            var times = new double[iters];
            for (int i = 0; i < iters; i++)
            {
                long t0 = Stopwatch.GetTimestamp();
                step(false);
                times[i] = Stopwatch.GetElapsedTime(t0).TotalMilliseconds;
            }
            double faultsPerIter = (MinorFaults() - faults) / (double)iters;
            double managedPerIter = (GC.GetAllocatedBytesForCurrentThread() - allocated) / (double)iters;
            gen0 = GC.CollectionCount(0) - gen0;
            gen2 = GC.CollectionCount(2) - gen2;
            // Collect first, as before the loop: each Tensor's SafeHandle sits in the runtime's finalization queue
            // (a native array, ~8 bytes per handle) until a GC runs, even when disposed; it is not a leak.
            GC.Collect();
            GC.WaitForPendingFinalizers();
            double rssAfter = RssMb(), heapAfter = HeapInUseMb();
            int liveAfterStep = step(true); // untimed probe: what the scope still had to dispose at the end of a step
            var sorted = (double[])times.Clone();
            Array.Sort(sorted);
            double median = sorted.Length % 2 == 1 ? sorted[sorted.Length / 2] : (sorted[sorted.Length / 2 - 1] + sorted[sorted.Length / 2]) / 2;
            return new Result(name, mode, batch, TorchRuntime.NumThreads, size, parameters, warmup, iters,
                median, times.Average(), sorted[0], sorted[^1], batch * 1000.0 / median, times,
                rssBefore, rssAfter, heapBefore, heapAfter, faultsPerIter, managedPerIter, gen0, gen2, liveAfterStep);
        }
        finally
        {
            for (int i = owned.Count - 1; i >= 0; i--) owned[i].Dispose();
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
                    Console.WriteLine("TorchBench [--model convstack|seresnet|overhead|all] [--mode train|infer|all] [--batch 32] [--threads 2] [--warmup 3] [--iters 10] [--json out.json]");
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
        var models = model == "all" ? new[] { "convstack", "seresnet", "overhead" } : new[] { model };
        foreach (var m in models)
            if (m is not ("convstack" or "seresnet" or "overhead"))
            {
                Console.Error.WriteLine($"unknown model '{m}' (convstack, seresnet, overhead, all)");
                return 2;
            }
        if (mode is not ("train" or "infer" or "all"))
        {
            Console.Error.WriteLine($"unknown mode '{mode}' (train, infer, all)");
            return 2;
        }
        var modes = mode == "all" ? new[] { "train", "infer" } : new[] { mode };
        var results = new List<Result>();
        foreach (var m in models)
            foreach (var md in modes)
            {
                var r = Measure(m, md, batch, warmup, iters);
                results.Add(r);
                Console.WriteLine(string.Create(CultureInfo.InvariantCulture,
                    $"csharp   {m,-10} {md,-6} batch={r.Batch} threads={r.Threads} params={r.Parameters} iters={r.Iters} median={r.MedianMs:F2} ms  min={r.MinMs:F2} ms  {r.ImagesPerS:F1} img/s  " +
                    $"rss {r.RssMbBefore:F0}->{r.RssMbAfter:F0} MB  heap in use {r.HeapMbBefore:F2}->{r.HeapMbAfter:F2} MB  faults/iter {r.MinorFaultsPerIter:F0}  managed {r.ManagedBytesPerIter / 1024:F1} KiB/iter  gc0={r.Gen0Collections} gc2={r.Gen2Collections}  live tensors after step={r.LiveTensorsAfterStep}"));
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
                w.WriteNumber("heap_mb_before", r.HeapMbBefore);
                w.WriteNumber("heap_mb_after", r.HeapMbAfter);
                w.WriteNumber("minor_faults_per_iter", r.MinorFaultsPerIter);
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
