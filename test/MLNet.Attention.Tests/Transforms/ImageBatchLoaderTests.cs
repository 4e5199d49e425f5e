using System.Diagnostics;
using MLNet.Attention.Torch;
using MLNet.Attention.Transforms;

namespace MLNet.Attention.Tests.Transforms;

/// <summary>The streaming loader: batch layout, determinism across worker counts, training vs evaluation, bounded memory.</summary>
[TestClass]
public sealed class ImageBatchLoaderTests
{
    private static ImagePipeline Augmenting() => new(
        new Compose(new RandomResizedCrop(20, 16), new RandomHorizontalFlip(), new ColorJitter(0.4, 0.4, 0.4, 0.1)),
        ExtractPixels.ToTensor(),
        new ComposePixels(NormalizeImage.ImageNet, new RandomErasing(p: 0.5)));

    private static ImageDataset Folder(TempDir dir, int count, int w = 24, int h = 18)
    {
        for (int i = 0; i < count; i++) dir.Write($"c{i % 3}/{i:D4}.png", TestImages.Png(w + i % 5, h + i % 3, 3, i));
        return ImageDataset.FromFolder(dir.Path);
    }

    private static List<(float[] X, long[] Y, int[] Idx)> Collect(ImageBatchLoader loader, int epoch)
    {
        var list = new List<(float[], long[], int[])>();
        foreach (var b in loader.Epoch(epoch))
            using (b) list.Add((b.Images.ToArray<float>(), b.Labels.ToArray<long>(), b.Indices.ToArray()));
        return list;
    }

    [TestMethod]
    public void BatchesAreNchwFloatWithInt64Labels()
    {
        using var dir = new TempDir("loader");
        var ds = Folder(dir, 23);
        var loader = new ImageBatchLoader(ds, new ImagePipeline(new ResizeImages(12, 10, ResizingKind.Fill)), new ImageLoaderOptions { BatchSize = 8, Workers = 2 });
        Assert.AreEqual(3, loader.BatchesPerEpoch);
        Assert.AreEqual((3, 10, 12), loader.SampleShape);
        var seen = new List<int>();
        int n = 0;
        foreach (var b in loader.Epoch(0))
        {
            using (b)
            {
                CollectionAssert.AreEqual(new long[] { b.Count, 3, 10, 12 }, b.Images.Shape);
                Assert.AreEqual(DType.Float32, b.Images.DType);
                Assert.AreEqual(DType.Int64, b.Labels.DType);
                var labels = b.Labels.ToArray<long>();
                for (int i = 0; i < b.Count; i++) Assert.AreEqual(ds[b.Indices[i]].Label, labels[i]);
                // row i is the pipeline's output for that image (evaluation pipeline: no randomness)
                var expect = loader.Pipeline.Run(ds[b.Indices[0]].Source.Load(3)).ToArray();
                CollectionAssert.AreEqual(expect, b.Images.ToArray<float>().AsSpan(0, expect.Length).ToArray());
                seen.AddRange(b.Indices);
                n++;
            }
        }
        Assert.AreEqual(3, n);
        CollectionAssert.AreEquivalent(Enumerable.Range(0, 23).ToArray(), seen, "every image once per epoch");
        CollectionAssert.AreNotEqual(Enumerable.Range(0, 23).ToArray(), seen, "shuffled");
        var dropLast = new ImageBatchLoader(ds, loader.Pipeline, new ImageLoaderOptions { BatchSize = 8, DropLast = true, Shuffle = false });
        CollectionAssert.AreEqual(Enumerable.Range(0, 16).ToArray(), Collect(dropLast, 0).SelectMany(b => b.Idx).ToArray());
    }

    [TestMethod]
    public void SameSeedSameBatchesWhateverTheWorkerCount()
    {
        using var dir = new TempDir("determinism");
        var ds = Folder(dir, 40);
        List<(float[] X, long[] Y, int[] Idx)> Run(int workers, int seed, int epoch, int prefetch = 0) =>
            Collect(new ImageBatchLoader(ds, Augmenting(), new ImageLoaderOptions { BatchSize = 6, Workers = workers, Seed = seed, PrefetchBatches = prefetch }), epoch);

        var reference = Run(0, 7, 1);
        foreach (var (workers, prefetch) in new[] { (1, 1), (2, 0), (4, 3), (8, 16) })
        {
            var other = Run(workers, 7, 1, prefetch);
            Assert.AreEqual(reference.Count, other.Count);
            for (int b = 0; b < reference.Count; b++)
            {
                CollectionAssert.AreEqual(reference[b].Idx, other[b].Idx, $"{workers} workers: order of batch {b}");
                CollectionAssert.AreEqual(reference[b].Y, other[b].Y, $"{workers} workers: labels of batch {b}");
                CollectionAssert.AreEqual(reference[b].X, other[b].X, $"{workers} workers: pixels of batch {b}");
            }
        }
        var nextEpoch = Run(2, 7, 2);
        CollectionAssert.AreNotEqual(reference[0].Idx, nextEpoch[0].Idx, "each epoch has its own shuffle");
        var otherSeed = Run(2, 8, 1);
        CollectionAssert.AreNotEqual(reference[0].Idx, otherSeed[0].Idx, "another seed, another order");
    }

    [TestMethod]
    public void AugmentationsOnlyWhileTraining()
    {
        using var dir = new TempDir("training");
        var ds = Folder(dir, 12);
        var pipeline = Augmenting();
        var eval = new ImageBatchLoader(ds, pipeline, new ImageLoaderOptions { BatchSize = 12, Training = false, Shuffle = false, Workers = 2 });
        var train = new ImageBatchLoader(ds, pipeline, new ImageLoaderOptions { BatchSize = 12, Training = true, Shuffle = false, Workers = 2 });
        var e0 = Collect(eval, 0)[0].X;
        CollectionAssert.AreEqual(e0, Collect(eval, 1)[0].X, "evaluation batches do not change between epochs");
        var expected = ds.SelectMany(s => pipeline.Run(s.Source.Load(3)).ToArray()).ToArray();
        CollectionAssert.AreEqual(expected, e0, "evaluation = the pipeline without a random source");
        var t0 = Collect(train, 0)[0].X;
        CollectionAssert.AreNotEqual(e0, t0, "training batches are augmented");
        CollectionAssert.AreNotEqual(t0, Collect(train, 1)[0].X, "and differently in every epoch");
    }

    [TestMethod]
    public void LeavingAnEpochEarlyStopsTheWorkersAndTensorsJoinTheDisposeScope()
    {
        using var dir = new TempDir("early");
        var ds = Folder(dir, 30);
        var loader = new ImageBatchLoader(ds, new ImagePipeline(new ResizeImages(8, 8)), new ImageLoaderOptions { BatchSize = 2, Workers = 3, PrefetchBatches = 4 });
        foreach (var b in loader.Epoch(0))
        {
            using var scope = Tensor.NewDisposeScope();
            Assert.AreEqual(0, scope.Count);
            using (var again = Tensor.NewDisposeScope())
            {
                var sum = b.Images.Sum();
                Assert.IsTrue(again.Count >= 1);
            }
            b.Dispose();
            break;
        }
        Assert.IsTrue(loader.PeakBatchBuffers <= 4, $"{loader.PeakBatchBuffers} buffers");
        // the next epoch still runs to the end after an abandoned one
        Assert.AreEqual(15, Collect(loader, 1).Count);
        using (var scope = Tensor.NewDisposeScope())
        {
            var batch = loader.Epoch(2).First();
            Assert.AreEqual(2, scope.Count, "images and labels belong to the consumer's scope");
        }
    }

    [TestMethod]
    public void APipelineErrorNamesTheImage()
    {
        using var dir = new TempDir("pipeline-error");
        var ds = Folder(dir, 4, w: 10, h: 8);
        var loader = new ImageBatchLoader(ds, new ImagePipeline(new RandomCrop(12, 12)), new ImageLoaderOptions { BatchSize = 2, Workers = 2, Shuffle = false, OnBadInput = BadInputPolicy.Skip });
        // the evaluation probe (a centre crop pads) works; the training crop of a smaller image does not
        var e = Assert.ThrowsExactly<InvalidOperationException>(() => loader.Epoch(0).Select(b => { b.Dispose(); return 0; }).ToList());
        StringAssert.Contains(e.Message, ds[0].Source.Name);
        Assert.IsInstanceOfType<ArgumentException>(e.InnerException);
    }

    [TestMethod]
    public void StreamingThousandsOfImagesKeepsMemoryBoundedByThePrefetchDepth()
    {
        // Test-sized version of the 60,000-image benchmark: 2,500 PNGs of 64x64, upscaled to 96x96: the decoded
        // epoch is 2,500 x 3 x 96 x 96 x 4 bytes = 276 MB of floats, the loader may hold 4 batches of 64 (7 MB).
        using var dir = new TempDir("rss");
        const int n = 2500;
        var dirs = ImageFolderWriter.ClassFolders(dir.Path, new[] { "a", "b", "c", "d" });
        Parallel.For(0, n, i => File.WriteAllBytes(Path.Combine(dirs[i % 4], $"{i:D5}.png"), TestImages.Png(64, 64, 3, i)));
        var ds = ImageDataset.FromFolder(dir.Path);
        Assert.AreEqual(n, ds.Count);
        var loader = new ImageBatchLoader(ds, new ImagePipeline(new Compose(new ResizeImages(96, 96), new RandomHorizontalFlip()), ExtractPixels.ToTensor(), NormalizeImage.ImageNet),
            new ImageLoaderOptions { BatchSize = 64, Workers = 2, PrefetchBatches = 4 });
        long epochBytes = 4L * n * 3 * 96 * 96;

        GC.Collect();
        GC.WaitForPendingFinalizers();
        long baseline = Rss(), peak = baseline;
        int images = 0;
        foreach (var b in loader.Epoch(0))
        {
            using (b) images += b.Count;
            peak = Math.Max(peak, Rss());
        }
        Assert.AreEqual(n, images);
        Assert.IsTrue(loader.PeakBatchBuffers <= 4, $"{loader.PeakBatchBuffers} batch buffers > prefetch depth 4");
        long growth = peak - baseline;
        Console.WriteLine($"RSS baseline {baseline >> 20} MB, peak {peak >> 20} MB, growth {growth >> 20} MB; epoch of floats {epochBytes >> 20} MB; batch buffer {loader.BatchBufferBytes >> 20} MB");
        Assert.IsTrue(growth < epochBytes / 3, $"RSS grew by {growth >> 20} MB while streaming {epochBytes >> 20} MB of decoded floats");
        Assert.IsTrue(growth < 120L << 20, $"RSS grew by {growth >> 20} MB");
    }

    private static long Rss()
    {
        foreach (var line in File.ReadLines("/proc/self/status"))
            if (line.StartsWith("VmRSS:", StringComparison.Ordinal))
                return long.Parse(line.Split(' ', StringSplitOptions.RemoveEmptyEntries)[1], System.Globalization.CultureInfo.InvariantCulture) * 1024;
        return Process.GetCurrentProcess().WorkingSet64;
    }
}
