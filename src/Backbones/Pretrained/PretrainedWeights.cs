using MLNet.Attention.Torch;
using MLNet.Attention.Torch.Hub;
using MLNet.Attention.Torch.Nn;
using MLNet.Attention.Torch.Serialization;

namespace MLNet.Attention.Backbones.Pretrained;

/// <summary>Where a <see cref="PretrainedWeights"/> comes from.</summary>
public enum PretrainedSource
{
    /// <summary>A local <c>.pth</c>/<c>.pt</c>/<c>.bin</c>/<c>.safetensors</c> file.</summary>
    File,
    /// <summary>An https URL, downloaded into the weights cache.</summary>
    Url,
    /// <summary>A name of the <see cref="KnownWeights"/> table (<c>timm/seresnet50.a1_in1k</c>), downloaded into the weights cache.</summary>
    Known,
}

/// <summary>
/// Pretrained weights given as a path, an https URL, or a known name such as <c>timm/seresnet50.a1_in1k</c> or
/// <c>torchvision/resnet50.IMAGENET1K_V2</c> (<see cref="KnownWeights.All"/>). <see cref="Resolve"/> gives a local
/// file (downloading into the <see cref="WeightsCache"/> when needed); <see cref="LoadInto"/> loads it into a model
/// through <see cref="CheckpointKeyMap"/> and reports missing, unexpected and mismatched keys.
/// </summary>
public sealed class PretrainedWeights
{
    /// <summary>Parses <paramref name="spec"/>: an http(s) URL, a known name, or else a path (which must exist).</summary>
    /// <exception cref="ArgumentException">A <c>timm/</c> or <c>torchvision/</c> name the table does not hold (the message lists the known ones).</exception>
    /// <exception cref="FileNotFoundException">A path that does not exist.</exception>
    public PretrainedWeights(string spec)
    {
        ArgumentException.ThrowIfNullOrWhiteSpace(spec);
        Spec = spec.Trim();
        if (Uri.TryCreate(Spec, UriKind.Absolute, out var uri) && (uri.Scheme == Uri.UriSchemeHttps || uri.Scheme == Uri.UriSchemeHttp))
        {
            Source = PretrainedSource.Url;
            Url = uri;
            FileName = Path.GetFileName(uri.AbsolutePath);
            if (string.IsNullOrEmpty(FileName)) throw new ArgumentException($"the URL '{Spec}' names no file", nameof(spec));
            return;
        }
        if (KnownWeights.Find(Spec) is { } known)
        {
            Source = PretrainedSource.Known;
            Known = known;
            Url = known.Url;
            FileName = known.FileName;
            return;
        }
        if (!File.Exists(Spec))
        {
            if (Spec.StartsWith("timm/", StringComparison.OrdinalIgnoreCase) || Spec.StartsWith("torchvision/", StringComparison.OrdinalIgnoreCase))
                throw new ArgumentException($"unknown pretrained weights '{Spec}'; known: {string.Join(", ", KnownWeights.All.Select(w => w.Name))} (or give a path or an https URL)", nameof(spec));
            throw new FileNotFoundException($"pretrained weights '{Spec}' are neither a known name, an https URL nor an existing file", Spec);
        }
        Source = PretrainedSource.File;
        FileName = Path.GetFileName(Spec);
        _path = Path.GetFullPath(Spec);
    }

    private string? _path;

    /// <summary>What was asked for.</summary>
    public string Spec { get; }

    /// <summary>A file, a URL or a known name.</summary>
    public PretrainedSource Source { get; }

    /// <summary>The table entry of a known name, else null.</summary>
    public KnownWeights? Known { get; }

    /// <summary>Where the file is downloaded from (null for a local file).</summary>
    public Uri? Url { get; }

    /// <summary>The file's name (in the cache, for a URL or a known name).</summary>
    public string FileName { get; }

    /// <summary>The registry model the weights fit (known names only).</summary>
    public string? Architecture => Known?.Architecture;

    /// <summary>The preprocessing the weights were trained with (known names only).</summary>
    public WeightsPreprocessing? Preprocessing => Known?.Preprocessing;

    /// <summary>The cache downloads go to (default: <see cref="WeightsCache.DefaultRoot"/>).</summary>
    public WeightsCache Cache { get; init; } = new();

    /// <summary>Called as a download progresses (the CLI draws its progress bar from it).</summary>
    public Action<DownloadProgress>? Progress { get; init; }

    /// <summary>The local file: the path itself, or the cached download (fetched now when missing; see <see cref="WeightsCache.GetAsync"/>).</summary>
    public string Resolve()
    {
        if (_path is not null) return _path;
        _path = Cache.Get(Url!, FileName, Known?.Hash, Progress);
        return _path;
    }

    /// <summary>
    /// Loads the weights into <paramref name="model"/>: the file's state dict through <see cref="CheckpointKeyMap.Apply"/>,
    /// then <see cref="Module.LoadStateDict"/>. Keys for which <paramref name="ignore"/> is true (e.g. a classifier to
    /// re-initialise) are neither loaded nor reported; missing <see cref="CheckpointKeyMap.IsOptional">optional</see> keys
    /// keep the model's values. With <paramref name="strict"/>, any other missing, unexpected or mismatched key throws
    /// before anything is copied.
    /// </summary>
    /// <returns>What did not match (empty when clean).</returns>
    /// <exception cref="InvalidOperationException">Strict, and the weights do not fit: the message names the file and every key.</exception>
    public LoadReport LoadInto(Module model, bool strict = true, Func<string, bool>? ignore = null)
    {
        ArgumentNullException.ThrowIfNull(model);
        string path = Resolve();
        var raw = CheckpointKeyMap.Apply(TensorSerialization.ReadStateDict(path));
        var own = model.StateDict().ToDictionary(p => p.Key, p => p.Value.Shape);
        var report = new LoadReport();
        var keep = new List<KeyValuePair<string, RawTensor>>();
        foreach (var (key, value) in raw)
        {
            if (ignore?.Invoke(key) == true) continue;
            if (!own.TryGetValue(key, out var shape)) report.UnexpectedKeys.Add(key);
            else if (!shape.SequenceEqual(value.Shape)) report.ShapeMismatches.Add(new ShapeMismatch(key, shape, value.Shape.ToArray()));
            else keep.Add(new(key, value));
        }
        var present = raw.Select(p => p.Key).ToHashSet(StringComparer.Ordinal);
        foreach (var key in own.Keys)
            if (!present.Contains(key) && ignore?.Invoke(key) != true && !CheckpointKeyMap.IsOptional(key)) report.MissingKeys.Add(key);
        if (strict && !report.IsClean)
            throw new InvalidOperationException($"weights '{Spec}' ({path}) do not fit {model.GetType().Name}: {report}");
        var tensors = new List<KeyValuePair<string, Tensor>>(keep.Count);
        try
        {
            foreach (var (k, v) in keep) tensors.Add(new(k, v.ToTensor().DetachFromDisposeScope()));
            model.LoadStateDict(tensors, strict: false);
        }
        finally
        {
            foreach (var (_, t) in tensors) t.Dispose();
        }
        return report;
    }

    /// <inheritdoc/>
    public override string ToString() => Spec;
}

/// <summary>
/// How hub checkpoints' keys become the registry models' keys. The registry's torchvision- and timm-layout models
/// register their modules under the hubs' own names (<c>layer1.0.se.fc1</c>, <c>conv1.0</c>, <c>features.2.conv.0.0</c>,
/// <c>stages.2.1.transformer.0.attn.qkv_proj</c>, <c>head.fc</c>), so the map only undoes what wrappers add: a
/// DataParallel <c>module.</c> prefix (the official EPSANet release) or torch.compile's <c>_orig_mod.</c>. Batch norms' <c>num_batches_tracked</c> counters are optional: torchvision's legacy checkpoints
/// (resnet18-f37072fd.pth, ...) predate them, and PyTorch's BatchNorm fills them in on load just as this does.
/// </summary>
public static class CheckpointKeyMap
{
    private static readonly string[] Prefixes = { "module.", "_orig_mod." };

    /// <summary>The entries with their keys mapped (order kept). A prefix is removed only when every key carries it.</summary>
    public static IReadOnlyList<KeyValuePair<string, T>> Apply<T>(IReadOnlyList<KeyValuePair<string, T>> stateDict)
    {
        ArgumentNullException.ThrowIfNull(stateDict);
        var result = stateDict;
        bool changed = true;
        while (changed && result.Count > 0)
        {
            changed = false;
            foreach (var prefix in Prefixes)
            {
                if (result.All(p => p.Key.StartsWith(prefix, StringComparison.Ordinal)))
                {
                    result = result.Select(p => new KeyValuePair<string, T>(p.Key[prefix.Length..], p.Value)).ToList();
                    changed = true;
                }
            }
        }
        return result;
    }

    /// <summary>Whether a checkpoint may lack <paramref name="key"/> (the model's value is kept): batch norms' <c>num_batches_tracked</c>.</summary>
    public static bool IsOptional(string key)
    {
        ArgumentNullException.ThrowIfNull(key);
        return key == "num_batches_tracked" || key.EndsWith(".num_batches_tracked", StringComparison.Ordinal);
    }
}
