using System.Diagnostics;
using System.Globalization;
using MLNet.Attention.Transforms;

// ImageBench throughput FOLDER [--sets a,b] [--size 224] [--batch 64] [--workers 0,1,2] [--repeat 3]
//   decode + ResizeImages(size x size, Fill) + ToTensor + NormalizeImage.ImageNet through ImageBatchLoader
//   (evaluation mode, no shuffle), one JSON line per (set, workers): best of --repeat epochs.
// ImageBench rss [--images 60000] [--workers 2] [--batch 256] [--folder DIR]
//   writes Fashion-MNIST's training images as PNG files, streams them (ToTensor + Fashion-MNIST normalisation) and
//   reports the process's peak RSS (VmHWM) and the largest RSS sampled after each batch.
var inv = CultureInfo.InvariantCulture;
if (args.Length == 0 || args[0] is "--help" or "-h")
{
    Console.WriteLine("ImageBench: throughput FOLDER [--sets a,b] [--size 224] [--batch 64] [--workers 0,1,2] [--repeat 3] | rss [--images 60000] [--workers 2] [--batch 256] [--folder DIR]");
    return 0;
}
string Opt(string name, string def)
{
    int i = Array.IndexOf(args, name);
    return i >= 0 && i + 1 < args.Length ? args[i + 1] : def;
}
long Status(string key)
{
    foreach (var line in File.ReadLines("/proc/self/status"))
        if (line.StartsWith(key, StringComparison.Ordinal))
            return long.Parse(line.Split(' ', StringSplitOptions.RemoveEmptyEntries)[1], inv) * 1024;
    return 0;
}

if (args[0] == "throughput")
{
    string root = args[1];
    int size = int.Parse(Opt("--size", "224"), inv), batch = int.Parse(Opt("--batch", "64"), inv), repeat = int.Parse(Opt("--repeat", "3"), inv);
    var workers = Opt("--workers", "0,1,2").Split(',').Select(s => int.Parse(s, inv)).ToArray();
    var pipeline = new ImagePipeline(new ResizeImages(size, size, ResizingKind.Fill), ExtractPixels.ToTensor(), NormalizeImage.ImageNet);
    foreach (var set in Opt("--sets", "fmnist_jpg,fmnist_png,photo_jpg,photo_png").Split(','))
    {
        var files = Directory.GetFiles(Path.Combine(root, set)).OrderBy(f => f, StringComparer.Ordinal).ToArray();
        var ds = new ImageDataset(files.Select(f => new ImageSample(new FileImageSource(f), 0)), new[] { set });
        foreach (int w in workers)
        {
            var loader = new ImageBatchLoader(ds, pipeline, new ImageLoaderOptions { BatchSize = batch, Workers = w, Shuffle = false, Training = false });
            var warm = new ImageBatchLoader(ds.Subset(Enumerable.Range(0, Math.Min(64, ds.Count))), pipeline, loader.Options);
            foreach (var b in warm.Epoch(0)) b.Dispose();
            double best = double.MaxValue;
            int n = 0;
            int gc0 = GC.CollectionCount(0), gc2 = GC.CollectionCount(2);
            for (int r = 0; r < repeat; r++)
            {
                var sw = Stopwatch.StartNew();
                n = 0;
                foreach (var b in loader.Epoch(r)) { n += b.Count; b.Dispose(); }
                best = Math.Min(best, sw.Elapsed.TotalSeconds);
            }
            Console.WriteLine(string.Create(inv, $"{{\"set\": \"{set}\", \"pipeline\": \"mlnet\", \"workers\": {w}, \"images\": {n}, \"seconds\": {best:F4}, \"images_per_s\": {n / best:F1}, \"gc0_per_epoch\": {(GC.CollectionCount(0) - gc0) / repeat}, \"gc2_per_epoch\": {(GC.CollectionCount(2) - gc2) / repeat}}}"));
        }
    }
    return 0;
}

if (args[0] == "rss")
{
    int images = int.Parse(Opt("--images", "60000"), inv), workers = int.Parse(Opt("--workers", "2"), inv), batch = int.Parse(Opt("--batch", "256"), inv);
    string folder = Opt("--folder", Path.Combine(Path.GetTempPath(), "mlnet-fmnist-png"));
    if (!Directory.Exists(folder) || Directory.GetFiles(folder, "*.png", SearchOption.AllDirectories).Length != images)
    {
        if (Directory.Exists(folder)) Directory.Delete(folder, true);
        var sw = Stopwatch.StartNew();
        ImageFolderWriter.WriteFashionMnist(folder, train: true, limit: images);
        Console.Error.WriteLine($"wrote {images} PNGs to {folder} in {sw.Elapsed.TotalSeconds:F1} s");
    }
    // A fresh process would be cleaner for VmHWM; the writer above is skipped when the folder exists (run.sh runs twice).
    var ds = ImageDataset.FromFolder(folder);
    var loader = new ImageBatchLoader(ds, ImagePipeline.FashionMnist(new RandomHorizontalFlip()),
        new ImageLoaderOptions { BatchSize = batch, Workers = workers, Channels = 1, Seed = 1 });
    // Load libtorch (about 170 MB of code and data once touched) before the baseline: batches are tensors.
    using (var warm = MLNet.Attention.Torch.Tensor.Zeros(new long[] { batch, 1, 28, 28 })) { }
    long before = Status("VmRSS:"), peak = before;
    var t = Stopwatch.StartNew();
    int n = 0;
    foreach (var b in loader.Epoch(0))
    {
        n += b.Count;
        b.Dispose();
        peak = Math.Max(peak, Status("VmRSS:"));
    }
    double secs = t.Elapsed.TotalSeconds;
    long decoded = 4L * n * 28 * 28;
    Console.WriteLine(string.Create(inv, $"{{\"images\": {n}, \"seconds\": {secs:F2}, \"images_per_s\": {n / secs:F0}, \"rss_before_mb\": {before >> 20}, \"rss_peak_sampled_mb\": {peak >> 20}, \"vm_hwm_mb\": {Status("VmHWM:") >> 20}, \"decoded_epoch_mb\": {decoded >> 20}, \"batch_buffers\": {loader.PeakBatchBuffers}, \"prefetch\": {loader.PrefetchDepth}}}"));
    return 0;
}
Console.Error.WriteLine($"unknown mode {args[0]}");
return 2;
