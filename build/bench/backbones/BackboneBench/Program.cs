// C# half of the registry-backbone benchmark (../run.sh runs it interleaved with ../torch_backbones.py).
//
//   BackboneBench list                                   registered model names, one a line
//   BackboneBench measure [--models a,b] --json f        parameters and multiply-adds at 224 px / 1000 classes (full width,
//                                                        ModelRegistry.Measure), and of the benchmarked small form
//   BackboneBench export --model m --width w --out f     the small-form model's state dict, an input, its eval output
//                                                        (safetensors), for torch_backbones.py's identity check
//   BackboneBench bench --models m@w,... --json f        train step and inference, per model
//   BackboneBench layers --json f                        layer micro-benchmark: forward + backward of one layer
//
// Models are built by ModelRegistry.Create(name, BackboneOptions(NumClasses 10, InChannels 3, SmallImage true,
// WidthMultiplier w)); inputs are batch x 3 x size x size.
// train: forward, cross-entropy, backward, SGD(momentum 0.9) step, ZeroGrad (set to none), inside a DisposeScope.
// infer: eval mode, forward under InferenceMode, inside a DisposeScope.
// Each: warm-up iterations, then timed iterations, each timed alone.
using System.Diagnostics;
using System.Globalization;
using System.Text.Json;
using MLNet.Attention.Backbones.Layers;
using MLNet.Attention.Backbones.Models;
using MLNet.Attention.Torch;
using MLNet.Attention.Torch.Nn;
using MLNet.Attention.Torch.Optim;
using MLNet.Attention.Torch.Serialization;
using F = MLNet.Attention.Torch.Functional;

namespace MLNet.Attention.Bench.Backbones;

internal sealed record Timing(string Model, string Mode, double Width, int Batch, int Threads, int ImageSize, long Parameters,
    int Warmup, int Iters, double[] TimesMs, double MinorFaultsPerIter, double ManagedBytesPerIter, double RssMbAfter)
{
    /// <summary>Multiply-adds of one forward pass (FlopCounter), where measured.</summary>
    public long MultiplyAdds { get; init; }

    public double MedianMs
    {
        get
        {
            var s = (double[])TimesMs.Clone();
            Array.Sort(s);
            return s.Length % 2 == 1 ? s[s.Length / 2] : (s[s.Length / 2 - 1] + s[s.Length / 2]) / 2;
        }
    }
}

internal static class Program
{
    private const int NumClasses = 10;

    private static BackboneOptions Small(double width) =>
        new(NumClasses: NumClasses, InChannels: 3, SmallImage: true, WidthMultiplier: width);

    private static long MinorFaults()
    {
        var stat = File.ReadAllText("/proc/self/stat");
        var fields = stat[(stat.LastIndexOf(')') + 2)..].Split(' ');
        return long.Parse(fields[7], CultureInfo.InvariantCulture);
    }

    private static double RssMb()
    {
        foreach (var line in File.ReadLines("/proc/self/status"))
            if (line.StartsWith("VmRSS:", StringComparison.Ordinal))
                return long.Parse(line.Split(' ', StringSplitOptions.RemoveEmptyEntries)[1], CultureInfo.InvariantCulture) / 1024.0;
        return double.NaN;
    }

    private static Timing Time(string model, string mode, double width, int batch, int size, long parameters, int warmup, int iters, Action step)
    {
        for (int i = 0; i < warmup; i++) step();
        GC.Collect();
        GC.WaitForPendingFinalizers();
        long faults = MinorFaults();
        long allocated = GC.GetAllocatedBytesForCurrentThread();
        var times = new double[iters];
        for (int i = 0; i < iters; i++)
        {
            long t0 = Stopwatch.GetTimestamp();
            step();
            times[i] = Stopwatch.GetElapsedTime(t0).TotalMilliseconds;
        }
        double faultsPerIter = (MinorFaults() - faults) / (double)iters;
        double managed = (GC.GetAllocatedBytesForCurrentThread() - allocated) / (double)iters;
        return new Timing(model, mode, width, batch, TorchRuntime.NumThreads, size, parameters, warmup, iters, times, faultsPerIter, managed, RssMb());
    }

    // ------------------------------------------------------------------------------------------------------------
    // backbones

    private static Timing BenchModel(string name, double width, string mode, int batch, int size, int warmup, int iters)
    {
        TorchRuntime.ManualSeed(0);
        // "eager_resnet50": the diagnostic EagerResNet50 (same network as resnet50 at width 1, see EagerResNet.cs)
        using Module<Tensor, Tensor> model = name switch
        {
            "eager_resnet50" => new EagerResNet50(NumClasses),
            _ => ModelRegistry.Create(name, Small(width)),
        };
        long parameters = model.ParameterCount();
        using var x = Tensor.Randn(new long[] { batch, 3, size, size });
        var rng = new Random(0);
        var labels = new long[batch];
        for (int i = 0; i < batch; i++) labels[i] = rng.Next(NumClasses);
        using var y = Tensor.FromArray<long>(labels, batch);
        if (mode == "train")
        {
            model.Train();
            using var opt = new SGD(model.Parameters(), learningRate: 0.01, momentum: 0.9);
            return Time(name, mode, width, batch, size, parameters, warmup, iters, () =>
            {
                using var scope = Tensor.NewDisposeScope();
                var logits = model.Forward(x);
                var loss = F.CrossEntropy(logits, y);
                loss.Backward();
                opt.Step();
                opt.ZeroGrad();
            });
        }
        model.Eval();
        return Time(name, mode, width, batch, size, parameters, warmup, iters, () =>
        {
            using var inference = TorchRuntime.InferenceMode();
            using var scope = Tensor.NewDisposeScope();
            model.Forward(x);
        });
    }

    // ------------------------------------------------------------------------------------------------------------
    // layer micro-benchmark: forward + backward (upstream gradient given) of one layer, input gradient included

    internal static readonly string[] LayerNames =
    {
        "conv3x3", "psa", "se", "cbam", "ca", "eca", "gc", "bam", "sk",
        "psa_conv_1_k3g1", "psa_conv_2_k5g4", "psa_conv_3_k7g8", "psa_conv_4_k9g16",
    };

    private static Module<Tensor, Tensor> BuildLayer(string name, long c, long size) => name switch
    {
        "botattn" => new BottleneckAttention(c, (size, size), 1, 4),
        "botattn_s2" => new BottleneckAttention(c, (size, size), 2, 4),
        "conv3x3" => new Conv2d(c, c, 3, padding: 1, bias: false),
        "psa" => new PSAModule(c, c),
        "se" => new SqueezeExcite(c),
        "cbam" => new Cbam(c),
        "ca" => new CoordAttention(c),
        "eca" => new EfficientChannelAttention(c),
        "gc" => new GlobalContext(c),
        "bam" => new Bam(c),
        "sk" => new SelectiveKernel(c),
        "psa_conv_1_k3g1" => new Conv2d(c, c / 4, 3, padding: 1, groups: 1, bias: false),
        "psa_conv_2_k5g4" => new Conv2d(c, c / 4, 5, padding: 2, groups: 4, bias: false),
        "psa_conv_3_k7g8" => new Conv2d(c, c / 4, 7, padding: 3, groups: 8, bias: false),
        "psa_conv_4_k9g16" => new Conv2d(c, c / 4, 9, padding: 4, groups: 16, bias: false),
        _ => throw new ArgumentException($"unknown layer '{name}' ({string.Join(", ", LayerNames)})"),
    };

    private static Timing BenchLayer(string name, long c, int size, int batch, int warmup, int iters)
    {
        TorchRuntime.ManualSeed(0);
        using var layer = BuildLayer(name, c, size);
        layer.Train();
        long parameters = layer.ParameterCount();
        using var x = Tensor.Randn(new long[] { batch, c, size, size }).RequiresGrad_();
        long outC, macs, outSize;
        using (var scope = Tensor.NewDisposeScope())
        using (TorchRuntime.NoGrad())
        using (var flops = FlopCounter.Start())
        {
            var probe = layer.Forward(x);
            outC = probe.Size(1);
            outSize = probe.Size(2);
            macs = flops.MultiplyAdds;
        }
        using var gout = Tensor.Randn(new long[] { batch, outC, outSize, outSize });
        var grads = layer.Parameters().Append(x).ToList();
        return Time(name, "fwd+bwd", 1.0, batch, size, parameters, warmup, iters, () =>
        {
            using var scope = Tensor.NewDisposeScope();
            var y = layer.Forward(x);
            y.Backward(gout);
            Tensor.ZeroGrad(grads);
        }) with { MultiplyAdds = macs };
    }

    // ------------------------------------------------------------------------------------------------------------

    private static void WriteTimings(string path, IEnumerable<Timing> results, string kind)
    {
        using var stream = File.Create(path);
        WriteTimings(stream, results, kind, indented: true);
    }

    private static void WriteTimings(Stream stream, IEnumerable<Timing> results, string kind, bool indented)
    {
        using var w = new Utf8JsonWriter(stream, new JsonWriterOptions { Indented = indented });
        w.WriteStartObject();
        w.WriteString("impl", "csharp");
        w.WriteString("kind", kind);
        w.WriteString("runtime", $".NET {Environment.Version}");
        w.WriteString("torch", TorchRuntime.Version);
        w.WriteStartArray("results");
        foreach (var r in results)
        {
            w.WriteStartObject();
            w.WriteString("model", r.Model);
            w.WriteString("mode", r.Mode);
            w.WriteNumber("width", r.Width);
            w.WriteNumber("batch", r.Batch);
            w.WriteNumber("threads", r.Threads);
            w.WriteNumber("image_size", r.ImageSize);
            w.WriteNumber("parameters", r.Parameters);
            w.WriteNumber("warmup", r.Warmup);
            w.WriteNumber("iters", r.Iters);
            w.WriteNumber("median_ms", r.MedianMs);
            w.WriteStartArray("times_ms");
            foreach (var t in r.TimesMs) w.WriteNumberValue(t);
            w.WriteEndArray();
            w.WriteNumber("minor_faults_per_iter", r.MinorFaultsPerIter);
            w.WriteNumber("managed_bytes_per_iter", r.ManagedBytesPerIter);
            w.WriteNumber("rss_mb_after", r.RssMbAfter);
            w.WriteNumber("macs", r.MultiplyAdds);
            w.WriteEndObject();
        }
        w.WriteEndArray();
        w.WriteEndObject();
    }

    private static void Print(string impl, Timing r) =>
        Console.WriteLine(string.Create(CultureInfo.InvariantCulture,
            $"{impl} {r.Model,-18} {r.Mode,-7} width={r.Width:0.###} batch={r.Batch} threads={r.Threads} params={r.Parameters} median={r.MedianMs:F2} ms min={r.TimesMs.Min():F2} ms faults/iter={r.MinorFaultsPerIter:F0} managed={r.ManagedBytesPerIter / 1024:F1} KiB/iter"));

    private static int Main(string[] args)
    {
        if (args.Length == 0 || args[0] is "-h" or "--help")
        {
            Console.WriteLine("BackboneBench list | measure [--models a,b] [--json f] | export --model m --width w --out f.safetensors [--batch 2] [--size 32] |\n" +
                              "  bench --models m@w,... [--mode train|infer|all] [--batch 32] [--size 32] [--threads 2] [--warmup 2] [--iters 5] [--json f] |\n" +
                              "  layers [--layers a,b] [--channels 256] [--size 14] [--batch 32] [--threads 2] [--warmup 2] [--iters 5] [--json f]");
            return 0;
        }
        string command = args[0];
        var opts = new Dictionary<string, string>(StringComparer.Ordinal);
        for (int i = 1; i < args.Length; i++)
        {
            if (!args[i].StartsWith("--", StringComparison.Ordinal) || i + 1 >= args.Length)
            {
                Console.Error.WriteLine($"bad argument '{args[i]}' (see --help)");
                return 2;
            }
            opts[args[i][2..]] = args[++i];
        }
        string Opt(string key, string def) => opts.TryGetValue(key, out var v) ? v : def;
        int IntOpt(string key, int def) => int.Parse(Opt(key, def.ToString(CultureInfo.InvariantCulture)), CultureInfo.InvariantCulture);

        TorchRuntime.NumThreads = IntOpt("threads", 2);
        switch (command)
        {
            case "list":
                foreach (var m in ModelRegistry.All) Console.WriteLine(m.Name);
                return 0;

            case "measure":
            {
                var names = opts.TryGetValue("models", out var ms) ? ms.Split(',') : ModelRegistry.All.Select(m => m.Name).ToArray();
                var rows = new List<Dictionary<string, object>>();
                foreach (var spec in names)
                {
                    var (name, width) = ParseSpec(spec);
                    var (p224, m224) = ModelRegistry.Measure(name, new BackboneOptions(), 224);
                    var (pSmall, mSmall) = ModelRegistry.Measure(name, Small(width), IntOpt("size", 32));
                    rows.Add(new() { ["model"] = name, ["width"] = width, ["params_224"] = p224, ["macs_224"] = m224, ["params_small"] = pSmall, ["macs_small"] = mSmall });
                    Console.WriteLine(string.Create(CultureInfo.InvariantCulture,
                        $"{name,-18} 224/1000: {p224 / 1e6,7:F2} M params {m224 / 1e9,6:F2} GMACs | small 32/10 width {width}: {pSmall / 1e6,6:F2} M params {mSmall / 1e9,6:F3} GMACs/img"));
                }
                if (opts.TryGetValue("json", out var path)) File.WriteAllText(path, JsonSerializer.Serialize(rows, new JsonSerializerOptions { WriteIndented = true }));
                return 0;
            }

            case "export":
            {
                string name = opts["model"];
                double width = double.Parse(Opt("width", "1"), CultureInfo.InvariantCulture);
                int batch = IntOpt("batch", 2), size = IntOpt("size", 32);
                TorchRuntime.ManualSeed(1);
                using var model = ModelRegistry.Create(name, Small(width));
                using var scope = Tensor.NewDisposeScope();
                var x = Tensor.Randn(new long[] { batch, 3, size, size });
                // BN running statistics away from (0, 1): one training-mode forward moves them
                model.Train();
                using (TorchRuntime.NoGrad()) model.Forward(x);
                model.Eval();
                Tensor outEval;
                using (TorchRuntime.NoGrad()) outEval = model.Forward(x);
                var tensors = model.StateDict().Select(p => new KeyValuePair<string, Tensor>("sd/" + p.Key, p.Value)).ToList();
                tensors.Add(new("x", x));
                tensors.Add(new("out_eval", outEval));
                TensorSerialization.SaveSafeTensors(opts["out"], tensors, new Dictionary<string, string>
                {
                    ["model"] = name,
                    ["width"] = width.ToString("R", CultureInfo.InvariantCulture),
                    ["params"] = model.ParameterCount().ToString(CultureInfo.InvariantCulture),
                    ["keys"] = string.Join(",", model.StateDict().Select(p => p.Key)),
                });
                Console.WriteLine($"exported {name} width {width}: {model.ParameterCount()} params");
                return 0;
            }

            case "bench":
            {
                var modes = Opt("mode", "all") == "all" ? new[] { "train", "infer" } : new[] { Opt("mode", "all") };
                int batch = IntOpt("batch", 32), size = IntOpt("size", 32), warmup = IntOpt("warmup", 2), iters = IntOpt("iters", 5);
                var results = new List<Timing>();
                foreach (var spec in opts["models"].Split(','))
                {
                    var (name, width) = ParseSpec(spec);
                    foreach (var mode in modes)
                    {
                        var r = BenchModel(name, width, mode, batch, size, warmup, iters);
                        results.Add(r);
                        Print("csharp ", r);
                    }
                }
                if (opts.TryGetValue("json", out var path)) WriteTimings(path, results, "backbones");
                return 0;
            }

            case "layers":
            {
                var names = opts.TryGetValue("layers", out var ls) ? ls.Split(',') : LayerNames;
                int batch = IntOpt("batch", 32), size = IntOpt("size", 14), warmup = IntOpt("warmup", 2), iters = IntOpt("iters", 5);
                long c = IntOpt("channels", 256);
                var results = new List<Timing>();
                foreach (var name in names)
                {
                    var r = BenchLayer(name, c, size, batch, warmup, iters);
                    results.Add(r);
                    Print("csharp ", r);
                }
                if (opts.TryGetValue("json", out var path)) WriteTimings(path, results, "layers");
                return 0;
            }

            case "serve":
                return Serve();

            case "eager":
                return EagerAb(IntOpt("batch", 32), IntOpt("size", 32), IntOpt("warmup", 2), IntOpt("iters", 5), IntOpt("reps", 4), Opt("mode", "infer"), Opt("only", ""));

            default:
                Console.Error.WriteLine($"unknown command '{command}' (list, measure, export, bench, layers, serve)");
                return 2;
        }
    }

    /// <summary>
    /// A long-lived worker for compare_backbones.py: one command a line on stdin, one JSON line of results on stdout
    /// ("ready" first). Commands: <c>bench SPEC BATCH SIZE WARMUP ITERS</c> (train and infer of one model),
    /// <c>layer NAME CHANNELS SIZE BATCH WARMUP ITERS</c>, <c>quit</c>. No process start-up between measurements, so
    /// the driver can pair C# and PyTorch model by model and wait for a quiet machine before each.
    /// </summary>
    private static int Serve()
    {
        Console.WriteLine("ready");
        string? line;
        while ((line = Console.ReadLine()) is not null)
        {
            var t = line.Split(' ', StringSplitOptions.RemoveEmptyEntries);
            if (t.Length == 0) continue;
            if (t[0] == "quit") break;
            int I(int i) => int.Parse(t[i], CultureInfo.InvariantCulture);
            var results = new List<Timing>();
            try
            {
                if (t[0] == "bench")
                {
                    var (name, width) = ParseSpec(t[1]);
                    foreach (var mode in new[] { "train", "infer" })
                        results.Add(BenchModel(name, width, mode, I(2), I(3), I(4), I(5)));
                }
                else if (t[0] == "layer")
                {
                    results.Add(BenchLayer(t[1], I(2), I(3), I(4), I(5), I(6)));
                }
                else throw new ArgumentException($"unknown command '{t[0]}'");
            }
            catch (Exception e)
            {
                Console.WriteLine(JsonSerializer.Serialize(new { error = e.ToString() }));
                continue;
            }
            using var ms = new MemoryStream();
            WriteTimings(ms, results, t[0], indented: false);
            Console.WriteLine(System.Text.Encoding.UTF8.GetString(ms.ToArray()));
        }
        return 0;
    }

    /// <summary>
    /// Diagnostic: the registry's resnet50 against <see cref="EagerResNet50"/> (the same network, intermediates disposed
    /// as soon as consumed, ReLU and residual add in place), alternating blocks of timed steps in one process.
    /// </summary>
    private static int EagerAb(int batch, int size, int warmup, int iters, int reps, string mode, string only)
    {
        TorchRuntime.ManualSeed(0);
        using var registry = ModelRegistry.Create("resnet50", Small(1.0));
        using var eager = new EagerResNet50(NumClasses);
        using var x = Tensor.Randn(new long[] { batch, 3, size, size });
        var labels = new long[batch];
        using var y = Tensor.FromArray<long>(labels, batch);
        var models = new (string Name, Module<Tensor, Tensor> Model)[] { ("registry", registry), ("eager", eager), ("eager+keep", eager) };
        var steps = new List<Action>();
        var opts = new List<SGD>();
        foreach (var (name, m) in models)
        {
            bool keep = name == "eager+keep";
            if (mode == "train")
            {
                m.Train();
                var opt = new SGD(m.Parameters(), learningRate: 0.01, momentum: 0.9);
                opts.Add(opt);
                steps.Add(() =>
                {
                    EagerBottleneck.KeepIntermediates = keep;
                    using var scope = Tensor.NewDisposeScope();
                    F.CrossEntropy(m.Forward(x), y).Backward();
                    opt.Step();
                    opt.ZeroGrad();
                });
            }
            else
            {
                m.Eval();
                steps.Add(() =>
                {
                    EagerBottleneck.KeepIntermediates = keep;
                    using var inference = TorchRuntime.InferenceMode();
                    using var scope = Tensor.NewDisposeScope();
                    m.Forward(x);
                });
            }
        }
        Console.WriteLine($"registry {registry.ParameterCount()} params, eager {eager.ParameterCount()} params");
        var all = new List<double>[] { new(), new(), new() };
        for (int r = 0; r < reps; r++)
            for (int k = 0; k < 3; k++)
            {
                int i = r % 2 == 0 ? k : 2 - k;
                if (only.Length > 0 && models[i].Name != only) continue;
                var t = Time(models[i].Name, mode, 1, batch, size, 0, warmup, iters, steps[i]);
                all[i].AddRange(t.TimesMs);
                Console.WriteLine(string.Create(CultureInfo.InvariantCulture, $"rep {r} {models[i].Name,-8} median {t.MedianMs:F2} ms min {t.TimesMs.Min():F2} ms"));
            }
        if (only.Length > 0)
        {
            int i = Array.FindIndex(models, m => m.Name == only);
            var s = all[i].OrderBy(t => t).ToArray();
            Console.WriteLine(string.Create(CultureInfo.InvariantCulture, $"{mode}: {only} median {s[s.Length / 2]:F2} min {s[0]:F2}"));
            foreach (var o in opts) o.Dispose();
            return 0;
        }
        double Med(List<double> v) { var s = v.OrderBy(t => t).ToArray(); return s.Length % 2 == 1 ? s[s.Length / 2] : (s[s.Length / 2 - 1] + s[s.Length / 2]) / 2; }
        Console.WriteLine(string.Create(CultureInfo.InvariantCulture,
            $"{mode}: registry median {Med(all[0]):F2} min {all[0].Min():F2} | eager median {Med(all[1]):F2} min {all[1].Min():F2} | eager+keep median {Med(all[2]):F2} min {all[2].Min():F2} | registry/eager {Med(all[0]) / Med(all[1]):F3} (min {all[0].Min() / all[1].Min():F3}) | eager+keep/eager {Med(all[2]) / Med(all[1]):F3} (min {all[2].Min() / all[1].Min():F3})"));
        foreach (var o in opts) o.Dispose();
        return 0;
    }

    /// <summary>"name" or "name@width".</summary>
    private static (string Name, double Width) ParseSpec(string spec)
    {
        int at = spec.IndexOf('@', StringComparison.Ordinal);
        return at < 0 ? (spec, 1.0) : (spec[..at], double.Parse(spec[(at + 1)..], CultureInfo.InvariantCulture));
    }
}
