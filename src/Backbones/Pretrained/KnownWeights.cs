using MLNet.Attention.Torch.Hub;

namespace MLNet.Attention.Backbones.Pretrained;

/// <summary>
/// The preprocessing a set of weights was trained and evaluated with (torchvision's <c>weights.transforms()</c>,
/// timm's <c>pretrained_cfg</c>): resize the shorter side to <see cref="ResizeSize"/> with <see cref="Interpolation"/>,
/// center-crop <see cref="InputSize"/>, scale to [0, 1], then subtract <see cref="Mean"/> and divide by <see cref="Std"/> per channel (RGB).
/// </summary>
/// <param name="InputSize">The square crop fed to the network.</param>
/// <param name="CropPct">timm's <c>crop_pct</c>: the crop's share of the resized image.</param>
/// <param name="Interpolation">"bilinear" or "bicubic".</param>
/// <param name="Mean">Per-channel mean (RGB) of [0, 1] pixels.</param>
/// <param name="Std">Per-channel standard deviation (RGB).</param>
public sealed record WeightsPreprocessing(int InputSize, double CropPct, string Interpolation, IReadOnlyList<float> Mean, IReadOnlyList<float> Std)
{
    /// <summary>ImageNet's mean (0.485, 0.456, 0.406), timm's <c>IMAGENET_DEFAULT_MEAN</c>.</summary>
    public static IReadOnlyList<float> ImageNetMean { get; } = new[] { 0.485f, 0.456f, 0.406f };

    /// <summary>ImageNet's standard deviation (0.229, 0.224, 0.225), timm's <c>IMAGENET_DEFAULT_STD</c>.</summary>
    public static IReadOnlyList<float> ImageNetStd { get; } = new[] { 0.229f, 0.224f, 0.225f };

    /// <summary>The shorter side before the crop: ⌊InputSize / CropPct⌋ (timm's <c>transforms_factory</c>; torchvision's 256 for 224 at 0.875).</summary>
    public int ResizeSize => (int)Math.Floor(InputSize / CropPct + 1e-6);

    /// <summary>The pixel scale <c>ExtractPixels</c>/<c>NormalizeImage</c> must apply per channel so that (p·scale − offset) equals ((p/255) − mean)/std: scale = 1/(255·std).</summary>
    public IReadOnlyList<float> PixelScale => Std.Select(s => 1f / (255f * s)).ToArray();

    /// <summary>The offset of <see cref="PixelScale"/>: mean/std.</summary>
    public IReadOnlyList<float> PixelOffset => Mean.Zip(Std, (m, s) => m / s).ToArray();

    /// <summary>
    /// How a pipeline's preprocessing differs from this one, one line per difference (empty when they agree within
    /// 1e-3): the image size it feeds, and the mean and standard deviation (of [0, 1] pixels) it normalises with.
    /// </summary>
    /// <param name="imageSize">The side of the square image the pipeline feeds the network.</param>
    /// <param name="mean">Its per-channel mean, or null when it does not normalise (mean 0).</param>
    /// <param name="std">Its per-channel standard deviation, or null when it does not normalise (std 1).</param>
    public IReadOnlyList<string> Differences(int imageSize, IReadOnlyList<float>? mean, IReadOnlyList<float>? std)
    {
        var d = new List<string>();
        if (imageSize != InputSize) d.Add($"image size {imageSize}, the weights were trained at {InputSize}");
        static string F(IReadOnlyList<float> v) => "(" + string.Join(", ", v.Select(x => x.ToString("0.###", System.Globalization.CultureInfo.InvariantCulture))) + ")";
        static bool Same(IReadOnlyList<float> a, IReadOnlyList<float> b) =>
            a.Count == b.Count && a.Zip(b).All(p => Math.Abs(p.First - p.Second) <= 1e-3) || (a.Count == 1 && b.All(x => Math.Abs(x - a[0]) <= 1e-3));
        var m = mean ?? new[] { 0f };
        var s = std ?? new[] { 1f };
        if (!Same(m, Mean)) d.Add($"mean {F(m)}, the weights expect {F(Mean)}");
        if (!Same(s, Std)) d.Add($"std {F(s)}, the weights expect {F(Std)}");
        return d;
    }
}

/// <summary>A published checkpoint this library knows: where it is, what it hashes to, which registry model it fits, and its preprocessing.</summary>
/// <param name="Name">The name to ask for, e.g. <c>timm/seresnet50.a1_in1k</c> or <c>torchvision/resnet50.IMAGENET1K_V2</c>.</param>
/// <param name="Architecture">The <see cref="Models.ModelRegistry"/> model the weights load into.</param>
/// <param name="Url">Where the hub serves the file.</param>
/// <param name="FileName">The file's name in the weights cache.</param>
/// <param name="Hash">What the file hashes to: torchvision's 8-hex-digit SHA-256 prefix (the one its file names carry and <c>torch.hub</c> checks) or the full SHA-256.</param>
/// <param name="Preprocessing">The preprocessing the weights were trained with.</param>
/// <param name="NumClasses">The classifier's outputs (1000 for ImageNet-1k).</param>
/// <param name="License">The weights' license as their publisher states it.</param>
public sealed record KnownWeights(string Name, string Architecture, Uri Url, string FileName, ExpectedHash Hash, WeightsPreprocessing Preprocessing,
    int NumClasses = 1000, string License = "")
{
    /// <summary>Every known checkpoint, by name (case-insensitive).</summary>
    public static IReadOnlyList<KnownWeights> All => Table.Value;

    /// <summary>The known checkpoint called <paramref name="name"/>, or null.</summary>
    public static KnownWeights? Find(string name) =>
        Table.Value.FirstOrDefault(w => string.Equals(w.Name, name, StringComparison.OrdinalIgnoreCase));

    private static readonly Lazy<IReadOnlyList<KnownWeights>> Table = new(Build);

    private static WeightsPreprocessing Tv(int resize = 256, int crop = 224) =>
        new(crop, crop / (double)resize, "bilinear", WeightsPreprocessing.ImageNetMean, WeightsPreprocessing.ImageNetStd);

    private static WeightsPreprocessing Timm(int size = 224, double crop = 0.875, string interpolation = "bicubic") =>
        new(size, crop, interpolation, WeightsPreprocessing.ImageNetMean, WeightsPreprocessing.ImageNetStd);

    private static KnownWeights TorchVision(string name, string arch, string file, WeightsPreprocessing pre)
    {
        // download.pytorch.org/models/<arch>-<first 8 hex digits of the SHA-256>.pth, as torch.hub checks them
        string prefix = Path.GetFileNameWithoutExtension(file).Split('-')[^1];
        return new KnownWeights($"torchvision/{name}", arch, new Uri($"https://download.pytorch.org/models/{file}"), file,
            new ExpectedHash(Sha256Prefix: prefix), pre, License: "BSD-3-Clause (torchvision)");
    }

    private static KnownWeights HfTimm(string name, string arch, WeightsPreprocessing pre, string license = "apache-2.0")
    {
        // huggingface.co/timm/<name>/resolve/main/model.safetensors: timm's own hub copies of its weights. The table
        // carries no SHA-256 for them (it lists no hashes it has not measured); the cache keeps whatever arrives
        // complete under a name that includes the tag, and PretrainedWeights reports the measured hash.
        string file = name.Replace('/', '_') + ".safetensors";
        return new KnownWeights($"timm/{name}", arch, new Uri($"https://huggingface.co/timm/{name}/resolve/main/model.safetensors"), file,
            new ExpectedHash(), pre, License: license);
    }

    private static IReadOnlyList<KnownWeights> Build() => new[]
    {
        // torchvision (torchvision/models/resnet.py, mobilenetv2.py: ResNet18_Weights.IMAGENET1K_V1, ...)
        TorchVision("resnet18.IMAGENET1K_V1", "resnet18", "resnet18-f37072fd.pth", Tv()),
        TorchVision("resnet34.IMAGENET1K_V1", "resnet34", "resnet34-b627a593.pth", Tv()),
        TorchVision("resnet50.IMAGENET1K_V1", "resnet50", "resnet50-0676ba61.pth", Tv()),
        TorchVision("resnet50.IMAGENET1K_V2", "resnet50", "resnet50-11ad3fa6.pth", Tv(232)),
        TorchVision("resnet101.IMAGENET1K_V1", "resnet101", "resnet101-63fe2227.pth", Tv()),
        TorchVision("resnet101.IMAGENET1K_V2", "resnet101", "resnet101-cd907fc2.pth", Tv(232)),
        TorchVision("mobilenet_v2.IMAGENET1K_V1", "mobilenetv2", "mobilenet_v2-b0353104.pth", Tv()),
        TorchVision("mobilenet_v2.IMAGENET1K_V2", "mobilenetv2", "mobilenet_v2-7ebf99e0.pth", Tv(232)),
        // timm (timm/models/resnet.py default_cfgs: _rcfg = bicubic, crop 0.95; _tcfg/_ttcfg = bicubic, crop 0.875)
        HfTimm("resnet18.a1_in1k", "resnet18", Timm(crop: 0.95)),
        HfTimm("resnet34.a1_in1k", "resnet34", Timm(crop: 0.95)),
        HfTimm("resnet50.a1_in1k", "resnet50", Timm(crop: 0.95)),
        HfTimm("resnet101.a1h_in1k", "resnet101", Timm(crop: 0.95)),
        HfTimm("resnet18d.ra2_in1k", "resnet18d", Timm()),
        HfTimm("resnet34d.ra2_in1k", "resnet34d", Timm()),
        HfTimm("resnet26.bt_in1k", "resnet26", Timm()),
        HfTimm("resnet26d.bt_in1k", "resnet26d", Timm()),
        HfTimm("resnet26t.ra2_in1k", "resnet26t", Timm(256, 0.94)),
        HfTimm("resnet50d.ra2_in1k", "resnet50d", Timm()),
        HfTimm("resnet101d.ra2_in1k", "resnet101d", Timm(256, 0.95)),
        HfTimm("seresnet50.a1_in1k", "seresnet50_timm", Timm(crop: 0.95)),
        HfTimm("seresnet50.ra2_in1k", "seresnet50_timm", Timm()),
        HfTimm("seresnet152d.ra2_in1k", "seresnet152d", Timm(256, 0.95)),
        HfTimm("ecaresnet26t.ra2_in1k", "ecaresnet26t", Timm(256)),
        HfTimm("ecaresnet50d.miil_in1k", "ecaresnet50d", Timm()),
        HfTimm("ecaresnet50t.ra2_in1k", "ecaresnet50t", Timm(256)),
        HfTimm("ecaresnet50t.a1_in1k", "ecaresnet50t", Timm(crop: 0.95)),
        HfTimm("ecaresnet101d.miil_in1k", "ecaresnet101d", Timm()),
        HfTimm("ecaresnetlight.miil_in1k", "ecaresnetlight", Timm()),
        // timm/models/sknet.py: _cfg = bicubic, crop 0.875
        HfTimm("skresnet18.ra_in1k", "skresnet18", Timm()),
        HfTimm("skresnet34.ra_in1k", "skresnet34", Timm()),
        HfTimm("skresnext50_32x4d.ra_in1k", "skresnext50_32x4d", Timm()),
        // timm/models/mobilevit.py: cvnets weights, mean 0 / std 1, 256 px, crop 0.888
        HfTimm("mobilevitv2_050.cvnets_in1k", "mobilevitv2_050", CvNets(), "apple-ascl"),
        HfTimm("mobilevitv2_075.cvnets_in1k", "mobilevitv2_075", CvNets(), "apple-ascl"),
        HfTimm("mobilevitv2_100.cvnets_in1k", "mobilevitv2_100", CvNets(), "apple-ascl"),
    };

    private static WeightsPreprocessing CvNets() => new(256, 0.888, "bicubic", new[] { 0f, 0f, 0f }, new[] { 1f, 1f, 1f });
}
