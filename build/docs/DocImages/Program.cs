using System.Diagnostics;
using System.Globalization;
using System.Text;
using MLNet.Attention;
using MLNet.Attention.Estimators;
using MLNet.Attention.Torch;
using MLNet.Attention.Trainers;
using MLNet.Attention.Transforms;
using MLNet.Attention.Visualization;

// The README's pictures from real runs: a few small attention backbones trained briefly on a Fashion-MNIST subset
// through the ML.NET-style pipeline, then their training curves, confusion matrix, leaderboard, Grad-CAMs and
// attention maps on test images. Usage: DocImages --out docs/images [--train-limit N] [--test-limit N] [--epochs E]
// [--threads T] [--work DIR] [--only name,name]
var ic = CultureInfo.InvariantCulture;
string outDir = Arg("--out", "docs/images");
int trainLimit = int.Parse(Arg("--train-limit", "12000"), ic);
int testLimit = int.Parse(Arg("--test-limit", "2000"), ic);
int epochs = int.Parse(Arg("--epochs", "3"), ic);
string work = Arg("--work", Path.Combine(Path.GetTempPath(), "mlnet-docimages"));
var only = Arg("--only", "").Split(',', StringSplitOptions.RemoveEmptyEntries).ToHashSet();
if (Arg("--threads", "") is { Length: > 0 } t) TorchRuntime.NumThreads = int.Parse(t, ic);
Directory.CreateDirectory(work);
Directory.CreateDirectory(outDir);
const float Mean = 0.2860f, Std = 0.3530f;
const int Scale = 2;

// name, registry architecture, attention layer, width, stem stride
var specs = new (string Name, string Arch, string? Attention, double Width, int Stem)[]
{
    ("SE-ResNet-18", "seresnet18", null, 0.25, 1),
    ("CBAM-ResNet-18", "resnet18", "cbam", 0.25, 1),
    ("CA-ResNet-18", "resnet18", "ca", 0.25, 1),
    ("ResNet-18", "resnet18", null, 0.25, 1),
    ("EPSANet-26", "epsanet26", null, 0.25, 2),
    ("BAM-ResNet-50", "bam_resnet50", null, 0.25, 2),
    ("Attention-56", "attention56", null, 0.125, 0),
};
var ml = new MLContext(seed: 1);
var trainView = ml.Data.LoadFashionMnist(train: true, limit: trainLimit);
var testView = ml.Data.LoadFashionMnist(train: false, limit: testLimit);
var report = new StringBuilder();
report.AppendLine(ic, $"Fashion-MNIST: {trainLimit} training images (10% held out for validation), {testLimit} test images, {epochs} epochs, batch 128, SGD Nesterov one-cycle lr 0.1, label smoothing 0.1, channels-last, {TorchRuntime.NumThreads} threads");
var results = new List<(string Name, ModelExplainer Explainer, MulticlassMetrics Metrics, IReadOnlyList<EpochMetrics> History, double Seconds, long Params)>();
foreach (var s in specs)
{
    if (only.Count > 0 && !only.Contains(s.Arch) && !only.Contains(s.Name)) continue;
    string zip = Path.Combine(work, $"{s.Arch}{(s.Attention is null ? "" : "_" + s.Attention)}_w{s.Width.ToString(ic)}_s{s.Stem}_e{epochs}_n{trainLimit}_cl.zip");
    string meta = zip + ".txt";
    ITransformer model;
    IReadOnlyList<EpochMetrics> history;
    double seconds;
    if (File.Exists(zip) && File.Exists(meta))
    {
        model = ml.Model.Load(zip, out _);
        var lines = File.ReadAllLines(meta);
        seconds = double.Parse(lines[0], ic);
        history = lines.Skip(1).Select(l => l.Split(' ').Select(v => double.Parse(v, ic)).ToArray())
            .Select(v => new EpochMetrics((int)v[0], epochs, v[1], v[2], v[3], v[4], 0, 0, TimeSpan.Zero, TimeSpan.Zero)).ToList();
        Console.WriteLine($"{s.Name}: loaded {zip}");
    }
    else
    {
        var log = new List<EpochMetrics>();
        var pipeline = ml.Transforms.ExtractPixels("Features", "Image", scaleImage: 1f / 255)
            .Append(ml.Transforms.NormalizeImage("Features", new[] { Mean }, new[] { Std }))
            .Append(ml.MulticlassClassification.Trainers.AttentionBackbone(new AttentionBackboneTrainer.Options
            {
                Arch = s.Arch, Attention = s.Attention, SmallImage = true, WidthMultiplier = s.Width, StemStride = s.Stem,
                MemoryFormat = MemoryFormat.ChannelsLast,   // as the recipe: grouped large-kernel convs (EPSANet) are 5-6x faster on the CPU
                MaxEpoch = epochs, BatchSize = 128, LearningRate = 0.1, WeightDecay = 5e-4, LabelSmoothing = 0.1,
                LearningRateScheduler = LearningRateScheduler.OneCycle, ValidationSetFraction = 0.1f, Seed = 1,
                MetricsCallback = m => { log.Add(m); Console.WriteLine($"{s.Name}: {m}"); },
            }));
        var sw = Stopwatch.StartNew();
        var chain = pipeline.Fit(trainView);
        seconds = sw.Elapsed.TotalSeconds;
        ml.Model.Save(chain, trainView.Schema, zip);
        File.WriteAllLines(meta, new[] { seconds.ToString("R", ic) }.Concat(log.Select(m =>
            string.Join(' ', new[] { m.Epoch, m.TrainLoss, m.TrainAccuracy, m.ValidationLoss ?? double.NaN, m.ValidationAccuracy ?? double.NaN }.Select(v => v.ToString("R", ic))))));
        model = chain;
        history = log;
    }
    var metrics = ml.MulticlassClassification.Evaluate(model.Transform(testView));
    var explainer = new ModelExplainer(model);
    long parameters = explainer.Backbone.ParameterCount;
    results.Add((s.Name, explainer, metrics, history, seconds, parameters));
    string line = string.Create(ic, $"{s.Name} ({s.Arch}{(s.Attention is null ? "" : "+" + s.Attention)}, width {s.Width}, stem stride {s.Stem}): {parameters:N0} parameters, test accuracy {100 * metrics.MicroAccuracy:F2}%, training {seconds:F0} s");
    Console.WriteLine(line);
    report.AppendLine(line);
}
if (results.Count == 0) throw new ArgumentException("--only matched no model");

// Training curves and confusion matrix of the first model.
var first = results[0];
Save(TrainingCurves.Create(first.History, string.Create(ic, $"{first.Name} on Fashion-MNIST ({trainLimit:N0} images)"), Scale), "training-curves", svg: true);
Save(ConfusionMatrixChart.Create(first.Metrics.ConfusionMatrix, $"{first.Name}: test set confusion", Scale), "confusion-matrix", svg: true);
Save(LeaderboardChart.Create(results.Select(r => new LeaderboardEntry(r.Name, r.Metrics.MicroAccuracy, r.Params, r.Seconds)).ToList(),
    "test accuracy", string.Create(ic, $"{epochs} epoch(s) on {trainLimit:N0} Fashion-MNIST images"), zeroBased: false, scale: Scale), "leaderboard", svg: true);

// Test images: one of each of a few classes.
var testSet = IdxDataset.FashionMnist(train: false).Take(testLimit);
var picks = new List<int>();
foreach (int cls in new[] { 9, 0, 8, 1, 7 })
    picks.Add(Enumerable.Range(0, testSet.Count).First(i => testSet.Labels[i] == cls && !picks.Contains(i)));
ImageData Img(int i) => new(28, 28, 1, testSet.Images.AsSpan(i * 784, 784).ToArray());
string Label(int i) => IdxDataset.FashionMnistClasses[testSet.Labels[i]];
const int cell = 84;
int px = cell * Scale;
string P(float p) => (100 * p).ToString("F0", ic) + "%";

// Grad-CAM of every model on the same images.
{
    var rows = new List<IReadOnlyList<GridPanel?>>();
    foreach (var i in picks.Take(4))
    {
        var row = new List<GridPanel?> { new(Overlay.Resize(Img(i).WithChannels(3), px, px), Label(i)) };
        foreach (var r in results)
        {
            var cam = r.Explainer.GradCam(Img(i));
            row.Add(new(Overlay.Blend(Img(i), cam.Normalized, Colormap.Jet, 0.5, px, px),
                $"{Clip(r.Explainer.Labels[cam.Predicted])} {P(cam.Probabilities[cam.Predicted])}"));
        }
        rows.Add(row);
    }
    var cols = new[] { "input" }.Concat(results.Select(r => r.Explainer.GradCam(Img(picks[0])).Layer).Zip(results, (l, r) => $"{r.Name}\n{l.Module} {l.Height}x{l.Width}")).ToList();
    Save(ImageGrid.Create(rows, cell, "Grad-CAM of the predicted class (last feature stage)", cols, colorbar: Colormap.Jet, scale: Scale), "gradcam");
}

// Spatial attention: per family, the map of the last block of each stage.
void Spatial(string name, string kind, string file, string title)
{
    var r = results.FirstOrDefault(x => x.Name == name);
    if (r.Explainer is null) return;
    var rows = new List<IReadOnlyList<GridPanel?>>();
    List<string>? cols = null;
    foreach (var i in picks.Take(3))
    {
        var cap = r.Explainer.Attention(Img(i));
        var maps = cap.Spatial.Where(m => m.Kind == kind).GroupBy(m => m.Module.Split('.')[0]).Select(g => g.Last()).ToList();
        cols ??= new[] { "input" }.Concat(maps.Select(m => $"{string.Join('.', m.Module.Split('.').Take(2))}\n{m.Map.Height}x{m.Map.Width}")).ToList();
        var row = new List<GridPanel?> { new(Overlay.Resize(Img(i).WithChannels(3), px, px), $"{Label(i)}\npred. {Clip(r.Explainer.Labels[cap.Predicted])}") };
        row.AddRange(maps.Select(m => (GridPanel?)new GridPanel(Overlay.Blend(Img(i), m.Map, Colormap.Jet, 0.5, px, px),
            Range(m.Map))));
        rows.Add(row);
    }
    Save(ImageGrid.Create(rows, cell, title, cols, colorbar: Colormap.Jet, scale: Scale), file);
}
Spatial("CBAM-ResNet-18", "cbam-spatial", "attention-cbam", "CBAM spatial gate, last block of each stage");
Spatial("BAM-ResNet-50", "bam", "attention-bam", "BAM attention after stages 1-3 (mean over channels)");
Spatial("CA-ResNet-18", "coordinate", "attention-ca", "Coordinate attention: a_h x a_w, last block of each stage");
Spatial("Attention-56", "soft-mask", "attention-residual", "Residual attention soft masks (mean over channels)");

// Channel attention: SE gates of one block for three images of different classes; PSA branch shares of one block.
{
    var r = results.FirstOrDefault(x => x.Name == "SE-ResNet-18");
    if (r.Explainer is not null)
    {
        // the SE block whose gates vary most over channels (averaged over the images): where SE does the most
        var caps = picks.Take(3).Select(i => r.Explainer.Attention(Img(i))).ToList();
        var modules = caps[0].Channel.Where(c => c.Kind == "se").Select(c => c.Module).ToList();
        double Spread(ChannelAttention c) { var w = c.Series[0].Weights; double mean = w.Average(v => (double)v); return w.Average(v => (v - mean) * (v - mean)); }
        string module = modules.OrderByDescending(m => caps.Average(c => Spread(c.Channel.First(a => a.Module == m)))).First();
        var series = picks.Take(3).Select((i, k) => new ChannelWeightSeries(Label(i), caps[k].Channel.First(a => a.Module == module).Series[0].Weights)).ToList();
        foreach (var m in modules)
            Console.WriteLine(string.Create(ic, $"SE {m}: channel std {Math.Sqrt(caps.Average(c => Spread(c.Channel.First(a => a.Module == m)))):F4}"));
        Save(ChannelWeightsChart.Create(series, $"SE channel weights of {module}, the most varied block", stacked: false, scale: Scale), "attention-se", svg: true);
    }
    var e = results.FirstOrDefault(x => x.Name == "EPSANet-26");
    if (e.Explainer is not null)
    {
        var cap = e.Explainer.Attention(Img(picks[0]));
        var psa = cap.Channel.Where(c => c.Kind == "psa").ToList();
        foreach (var p in psa)
            Console.WriteLine(string.Create(ic, $"PSA {p.Module}: branch weights {p.Series.Min(x => x.Weights.Min()):F4}..{p.Series.Max(x => x.Weights.Max()):F4}"));
        // the PSA block whose branch shares depart most from 1/4
        var block = psa.OrderByDescending(p => p.Series.Sum(x => x.Weights.Sum(v => Math.Abs(v - 0.25)))).First();
        Save(ChannelWeightsChart.Create(block.Series, $"PSA branch weights of {block.Module}",
            stacked: true, subtitle: $"softmax share of each kernel branch per channel, test image '{Label(picks[0])}'", scale: Scale), "attention-psa", svg: true);
    }
}
File.WriteAllText(Path.Combine(outDir, "runs.txt"), report.ToString());
Console.WriteLine(report);

string Range(Heatmap m)
{
    // enough decimals to show the map's spread (a gate that barely moves from 0.5 says so)
    int d = 2;
    while (d < 5 && Math.Round(m.Max, d) == Math.Round(m.Min, d)) d++;
    return string.Create(ic, $"{m.Min.ToString("F" + d, ic)}..{m.Max.ToString("F" + d, ic)}");
}

string Clip(string s) => s.Length <= 11 ? s : s[..10] + ".";

void Save(Picture p, string name, bool svg = false)
{
    string path = Path.Combine(outDir, name + ".png");
    p.SavePng(path);
    if (svg) p.SaveSvg(Path.Combine(outDir, name + ".svg"));
    Console.WriteLine($"wrote {path} ({p.Width}x{p.Height}, {new FileInfo(path).Length / 1024} KB)");
}

string Arg(string name, string fallback)
{
    int i = Array.IndexOf(args, name);
    return i >= 0 && i + 1 < args.Length ? args[i + 1] : fallback;
}
