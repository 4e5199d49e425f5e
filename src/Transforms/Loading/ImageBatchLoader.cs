using System.Collections.Concurrent;
using MLNet.Attention.Torch;

namespace MLNet.Attention.Transforms;

/// <summary>Options of <see cref="ImageBatchLoader"/>.</summary>
public sealed record ImageLoaderOptions
{
    /// <summary>Images per batch (default 32).</summary>
    public int BatchSize { get; init; } = 32;
    /// <summary>Shuffle every epoch (default true); the order depends only on <see cref="Seed"/> and the epoch number.</summary>
    public bool Shuffle { get; init; } = true;
    /// <summary>Seed of the shuffles and of the augmentations.</summary>
    public int Seed { get; init; }
    /// <summary>Background decoding threads (default: the machine's cores). 0 decodes on the calling thread.</summary>
    public int Workers { get; init; } = Environment.ProcessorCount;
    /// <summary>Batches decoded ahead of the consumer (default 0: twice the workers, at least 2). Bounds memory: at
    /// most this many batch buffers exist at once.</summary>
    public int PrefetchBatches { get; init; }
    /// <summary>Leave out the last batch when it is smaller than <see cref="BatchSize"/>.</summary>
    public bool DropLast { get; init; }
    /// <summary>Apply the pipeline's random augmentations (default true); false runs it in evaluation mode.</summary>
    public bool Training { get; init; } = true;
    /// <summary>Channels decoded (1 gray, 3 RGB, ...; default 3).</summary>
    public int Channels { get; init; } = 3;
    /// <summary>Decoder limits (pixel limit, file size limit, EXIF orientation).</summary>
    public ImageDecodeOptions? Decode { get; init; }
    /// <summary>What to do with an image that cannot be loaded: throw (default), or skip it and count it in
    /// <see cref="ImageBatchLoader.Report"/> (the batch is then smaller).</summary>
    public BadInputPolicy OnBadInput { get; init; } = BadInputPolicy.Throw;
}

/// <summary>One batch: images (N, C, H, W) float32 and labels (N) int64, created on the consuming thread (so they
/// belong to its dispose scope).</summary>
public sealed class ImageBatch : IDisposable
{
    /// <summary>The images, float32 (N, C, H, W).</summary>
    public Tensor Images { get; }
    /// <summary>The labels, int64 (N).</summary>
    public Tensor Labels { get; }
    /// <summary>The data set index of each row.</summary>
    public IReadOnlyList<int> Indices { get; }
    /// <summary>The epoch.</summary>
    public int Epoch { get; }
    /// <summary>Position of the batch in the epoch.</summary>
    public int BatchIndex { get; }
    /// <summary>Number of images.</summary>
    public int Count => Indices.Count;

    internal ImageBatch(Tensor images, Tensor labels, int[] indices, int epoch, int batchIndex)
    {
        Images = images; Labels = labels; Indices = indices; Epoch = epoch; BatchIndex = batchIndex;
    }

    /// <summary>Frees both tensors.</summary>
    public void Dispose()
    {
        Images.Dispose();
        Labels.Dispose();
    }
}

/// <summary>
/// Streams an <see cref="ImageDataset"/> as batches: worker threads load, decode and transform images (the
/// <see cref="ImagePipeline"/>) into batch buffers ahead of the consumer, at most
/// <see cref="ImageLoaderOptions.PrefetchBatches"/> of them, so memory is bounded by the prefetch depth and not by the
/// data set. Each epoch has its own seeded shuffle, and every image its own seeded random source, so the batches'
/// order and content depend only on the seed and the epoch — not on the number of workers or on timing.
/// </summary>
public sealed class ImageBatchLoader
{
    private readonly ConcurrentBag<float[]> _pool = new();
    private readonly ConcurrentBag<PixelArena> _arenas = new();
    private int _buffers, _peakBuffers;
    private (int C, int H, int W)? _shape;

    /// <summary>The data set.</summary>
    public ImageDataset Dataset { get; }
    /// <summary>The per-image pipeline.</summary>
    public ImagePipeline Pipeline { get; }
    /// <summary>The options.</summary>
    public ImageLoaderOptions Options { get; }
    /// <summary>Inputs skipped so far (listing and loading), with <see cref="BadInputPolicy.Skip"/>. Print it after training.</summary>
    public BadInputReport Report { get; } = new();

    /// <summary>A loader of <paramref name="dataset"/> through <paramref name="pipeline"/>.</summary>
    public ImageBatchLoader(ImageDataset dataset, ImagePipeline pipeline, ImageLoaderOptions? options = null)
    {
        ArgumentNullException.ThrowIfNull(dataset);
        ArgumentNullException.ThrowIfNull(pipeline);
        options ??= new ImageLoaderOptions();
        if (options.BatchSize <= 0) throw new ArgumentOutOfRangeException(nameof(options), options.BatchSize, "BatchSize must be > 0");
        if (options.Workers < 0) throw new ArgumentOutOfRangeException(nameof(options), options.Workers, "Workers must be >= 0");
        if (options.PrefetchBatches < 0) throw new ArgumentOutOfRangeException(nameof(options), options.PrefetchBatches, "PrefetchBatches must be >= 0");
        if (options.Channels is < 1 or > 4) throw new ArgumentOutOfRangeException(nameof(options), options.Channels, "Channels must be 1, 2, 3 or 4");
        if (pipeline.Extract.InterleavePixelColors) throw new ArgumentException("the loader emits NCHW batches: use a planar ExtractPixels (interleavePixelColors: false)", nameof(pipeline));
        if (dataset.Count == 0) throw new ArgumentException("the data set is empty", nameof(dataset));
        Dataset = dataset; Pipeline = pipeline; Options = options;
        Report.AddRange(dataset.Report);
    }

    /// <summary>Batches per epoch (before any image is skipped).</summary>
    public int BatchesPerEpoch => Options.DropLast ? Dataset.Count / Options.BatchSize : (Dataset.Count + Options.BatchSize - 1) / Options.BatchSize;

    /// <summary>The prefetch depth in use.</summary>
    public int PrefetchDepth => Options.PrefetchBatches > 0 ? Options.PrefetchBatches : Math.Max(2, 2 * Options.Workers);

    /// <summary>The most batch buffers that existed at once (never more than <see cref="PrefetchDepth"/>).</summary>
    public int PeakBatchBuffers => Volatile.Read(ref _peakBuffers);

    /// <summary>Bytes of one batch buffer.</summary>
    public long BatchBufferBytes
    {
        get
        {
            var (c, h, w) = SampleShape;
            return 4L * Options.BatchSize * c * h * w;
        }
    }

    /// <summary>(C, H, W) of every image after the pipeline, from the first image that loads (evaluation mode).</summary>
    public (int C, int H, int W) SampleShape
    {
        get
        {
            if (_shape is { } s) return s;
            // Bad images met here are reported (or thrown) when an epoch reaches them, in batch order.
            var decode = Options.Decode ?? ImageDecodeOptions.Default;
            ImageDataException? first = null;
            for (int i = 0; i < Dataset.Count; i++)
            {
                try
                {
                    var f = Pipeline.Run(Dataset[i].Source.Load(Options.Channels, decode));
                    _shape = (f.Channels, f.Height, f.Width);
                    return _shape.Value;
                }
                catch (ImageDataException e)
                {
                    first ??= e;
                    if (i >= 1000) break;
                }
            }
            throw new ImageDataException(first!.Input, first.Kind, $"no image of the data set could be loaded (the first failure: {first.Reason})", first);
        }
    }

    /// <summary>The order of the data set indices in <paramref name="epoch"/>.</summary>
    public int[] EpochOrder(int epoch)
    {
        var order = Enumerable.Range(0, Dataset.Count).ToArray();
        if (Options.Shuffle) new Random(Mix(Options.Seed, epoch, -1)).Shuffle(order);
        return order;
    }

    /// <summary>The random source of one image in one epoch (null when not training).</summary>
    private Random? SampleRandom(int epoch, int index) => Options.Training ? new Random(Mix(Options.Seed, epoch, index)) : null;

    private static int Mix(int seed, int epoch, int index)
    {
        // SplitMix64 finaliser over the three numbers.
        ulong z = (ulong)(uint)seed * 0x9E3779B97F4A7C15UL ^ (ulong)(uint)epoch * 0xC2B2AE3D27D4EB4FUL ^ (ulong)(uint)index * 0x165667B19E3779F9UL;
        z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9UL;
        z = (z ^ (z >> 27)) * 0x94D049BB133111EBUL;
        z ^= z >> 31;
        return (int)(z & 0x7FFFFFFF);
    }

    private sealed class Produced
    {
        public required float[] Buffer;
        public required long[] Labels;
        public required int[] Indices;
    }

    /// <summary>
    /// The batches of <paramref name="epoch"/>, decoded ahead on <see cref="ImageLoaderOptions.Workers"/> threads.
    /// Dispose each batch (or open a dispose scope per step). Leaving the loop early stops the workers. The first
    /// image that cannot be loaded (in batch order) throws its <see cref="ImageDataException"/> here, unless skipping.
    /// </summary>
    public IEnumerable<ImageBatch> Epoch(int epoch)
    {
        var (c, h, w) = SampleShape;
        var order = EpochOrder(epoch);
        int nb = BatchesPerEpoch, per = c * h * w;
        if (Options.Workers == 0)
        {
            for (int b = 0; b < nb; b++)
            {
                var p = Produce(order, epoch, b, per, CancellationToken.None);
                var batch = ToBatch(p, epoch, b, per);
                if (batch is not null) yield return batch;
            }
            yield break;
        }
        var results = new TaskCompletionSource<Produced>[nb];
        for (int b = 0; b < nb; b++) results[b] = new TaskCompletionSource<Produced>(TaskCreationOptions.RunContinuationsAsynchronously);
        using var slots = new SemaphoreSlim(PrefetchDepth);
        using var cts = new CancellationTokenSource();
        int next = -1;
        var threads = new Thread[Math.Min(Options.Workers, nb)];
        for (int t = 0; t < threads.Length; t++)
        {
            threads[t] = new Thread(() =>
            {
                while (true)
                {
                    try { slots.Wait(cts.Token); }
                    catch (OperationCanceledException) { return; }
                    int b = Interlocked.Increment(ref next);
                    if (b >= nb) { slots.Release(); return; }
                    try { results[b].SetResult(Produce(order, epoch, b, per, cts.Token)); }
                    catch (Exception e) { results[b].SetException(e); }
                }
            }) { IsBackground = true, Name = $"ImageBatchLoader worker {t}" };
            threads[t].Start();
        }
        int consumed = 0;
        try
        {
            for (int b = 0; b < nb; b++)
            {
                var p = results[b].Task.GetAwaiter().GetResult();
                consumed = b + 1;
                ImageBatch? batch;
                try { batch = ToBatch(p, epoch, b, per); }
                finally { slots.Release(); }
                if (batch is not null) yield return batch;
            }
        }
        finally
        {
            cts.Cancel();
            foreach (var t in threads) t.Join();
            // Buffers of batches produced but never consumed go back to the pool.
            for (int b = consumed; b < nb; b++)
                if (results[b].Task.IsCompletedSuccessfully) ReturnBuffer(results[b].Task.Result.Buffer);
        }
    }

    private Produced Produce(int[] order, int epoch, int b, int per, CancellationToken ct)
    {
        int start = b * Options.BatchSize, end = Math.Min(start + Options.BatchSize, order.Length);
        var buffer = RentBuffer(Options.BatchSize * per);
        var labels = new List<long>(end - start);
        var indices = new List<int>(end - start);
        var decode = Options.Decode ?? ImageDecodeOptions.Default;
        var (c, h, w) = _shape!.Value;
        if (!_arenas.TryTake(out var arena)) arena = new PixelArena();
        try
        {
            using var scope = arena.Enter();
            for (int pos = start; pos < end; pos++)
            {
                ct.ThrowIfCancellationRequested();
                int idx = order[pos];
                var sample = Dataset[idx];
                try
                {
                    var img = sample.Source.Load(Options.Channels, decode);
                    Pipeline.RunInto(img, SampleRandom(epoch, idx), buffer.AsMemory(labels.Count * per, per), c, h, w);
                    labels.Add(sample.Label);
                    indices.Add(idx);
                }
                catch (ImageDataException e) when (Options.OnBadInput == BadInputPolicy.Skip)
                {
                    Report.Add(e);
                }
                catch (Exception e) when (e is not ImageDataException and not OperationCanceledException)
                {
                    // A transform's own error (a crop larger than the image, ...): say which image it was.
                    throw new InvalidOperationException($"'{sample.Source.Name}': the image pipeline failed: {e.Message}", e);
                }
                finally
                {
                    arena.ReleaseAll();
                }
            }
        }
        catch
        {
            ReturnBuffer(buffer);
            throw;
        }
        finally
        {
            _arenas.Add(arena);
        }
        return new Produced { Buffer = buffer, Labels = labels.ToArray(), Indices = indices.ToArray() };
    }

    private ImageBatch? ToBatch(Produced p, int epoch, int b, int per)
    {
        try
        {
            int n = p.Labels.Length;
            if (n == 0) return null;
            var (c, h, w) = _shape!.Value;
            var images = Tensor.FromArray<float>(p.Buffer.AsSpan(0, n * per), new long[] { n, c, h, w });
            var labels = Tensor.FromArray<long>(p.Labels, new long[] { n });
            return new ImageBatch(images, labels, p.Indices, epoch, b);
        }
        finally
        {
            ReturnBuffer(p.Buffer);
        }
    }

    private float[] RentBuffer(int length)
    {
        if (_pool.TryTake(out var buf) && buf.Length == length) return buf;
        int live = Interlocked.Increment(ref _buffers);
        int peak;
        while (live > (peak = Volatile.Read(ref _peakBuffers)) && Interlocked.CompareExchange(ref _peakBuffers, live, peak) != peak) { }
        return GC.AllocateUninitializedArray<float>(length);
    }

    private void ReturnBuffer(float[] buffer) => _pool.Add(buffer);
}
