using MLNet.Attention.Backbones.Layers;
using MLNet.Attention.Torch;
using MLNet.Attention.Torch.Nn;

namespace MLNet.Attention.Visualization;

/// <summary>A tensor an attention layer reported during a forward pass (one image), copied to managed memory.</summary>
/// <param name="Module">The layer's dotted name in the model (e.g. "layer1.0.se").</param>
/// <param name="LayerType">The layer's class (e.g. "SqueezeExcite").</param>
/// <param name="Name">What the layer reported (e.g. "channel_weights").</param>
/// <param name="Shape">The shape without the batch dimension.</param>
/// <param name="Values">The values, row-major.</param>
/// <param name="BranchLabels">For PSA's branch weights, a label per branch ("3x3 conv", …); otherwise null.</param>
public sealed record ReportedTensor(string Module, string LayerType, string Name, int[] Shape, float[] Values, IReadOnlyList<string>? BranchLabels = null);

/// <summary>Per-channel attention of one layer: an SE or CBAM channel gate (one series) or PSA's branch shares (four).</summary>
/// <param name="Module">The layer's dotted name.</param>
/// <param name="Kind">"se", "cbam-channel" or "psa".</param>
/// <param name="Series">One row of weights per branch (PSA: the softmax share of each kernel branch per channel).</param>
public sealed record ChannelAttention(string Module, string Kind, IReadOnlyList<ChannelWeightSeries> Series);

/// <summary>A spatial attention map of one layer.</summary>
/// <param name="Module">The layer's dotted name.</param>
/// <param name="Kind">"cbam-spatial" (the spatial gate), "bam" (the gate sigmoid(M_c·M_s) averaged over channels),
/// "coordinate" (the product a_h ⊗ a_w averaged over channels) or "soft-mask" (the residual attention mask averaged over channels).</param>
/// <param name="Map">The map at the layer's resolution, values in (0, 1).</param>
public sealed record SpatialAttention(string Module, string Kind, Heatmap Map);

/// <summary>What <see cref="AttentionMaps.Capture"/> recorded for one image.</summary>
public sealed class AttentionCapture
{
    internal AttentionCapture(IReadOnlyList<ReportedTensor> reported, float[] logits)
    {
        Reported = reported;
        Logits = logits;
        Probabilities = Softmax(logits);
        Predicted = logits.Length == 0 ? -1 : Array.IndexOf(logits, logits.Max());
        var channel = new List<ChannelAttention>();
        var spatial = new List<SpatialAttention>();
        foreach (var group in reported.GroupBy(r => r.Module))
        {
            var items = group.ToList();
            foreach (var r in items)
            {
                switch (r.LayerType, r.Name)
                {
                    case (nameof(SqueezeExcite), "channel_weights"):
                        channel.Add(new(r.Module, "se", new[] { new ChannelWeightSeries("weight", r.Values) }));
                        break;
                    case (nameof(CbamChannelGate), "channel_weights"):
                        channel.Add(new(r.Module, "cbam-channel", new[] { new ChannelWeightSeries("weight", r.Values) }));
                        break;
                    case (nameof(PSAModule), "branch_weights"):
                        {
                            int branches = r.Shape[0], split = r.Shape[1];
                            var series = Enumerable.Range(0, branches)
                                .Select(b => new ChannelWeightSeries(r.BranchLabels?[b] ?? $"branch {b + 1}", r.Values.AsSpan(b * split, split).ToArray())).ToList();
                            channel.Add(new(r.Module, "psa", series));
                            break;
                        }
                    case (nameof(CbamSpatialGate), "spatial_map"):
                        spatial.Add(new(r.Module, "cbam-spatial", new Heatmap(r.Shape[2], r.Shape[1], r.Values)));
                        break;
                    case (nameof(Bam), "attention"):
                        spatial.Add(new(r.Module, "bam", ChannelMean(r)));
                        break;
                    case (_, "soft_mask"):
                        spatial.Add(new(r.Module, "soft-mask", ChannelMean(r)));
                        break;
                    case (_, "attention_h"):
                        {
                            var w = items.Find(o => o.Name == "attention_w");
                            if (w is not null) spatial.Add(new(r.Module, "coordinate", OuterMean(r, w)));
                            break;
                        }
                }
            }
        }
        Channel = channel;
        Spatial = spatial;
    }

    /// <summary>Everything the layers reported, in the order they ran.</summary>
    public IReadOnlyList<ReportedTensor> Reported { get; }
    /// <summary>Per-channel attention (SE, CBAM channel gates, PSA), in the order the layers ran.</summary>
    public IReadOnlyList<ChannelAttention> Channel { get; }
    /// <summary>Spatial attention maps (CBAM spatial gates, BAM, coordinate attention, residual attention masks), in the order the layers ran.</summary>
    public IReadOnlyList<SpatialAttention> Spatial { get; }
    /// <summary>The model's output for the image.</summary>
    public IReadOnlyList<float> Logits { get; }
    /// <summary>Softmax of <see cref="Logits"/>.</summary>
    public IReadOnlyList<float> Probabilities { get; }
    /// <summary>The class with the highest logit.</summary>
    public int Predicted { get; }

    private static Heatmap ChannelMean(ReportedTensor r)
    {
        int c = r.Shape[0], h = r.Shape[1], w = r.Shape[2], n = h * w;
        var m = new float[n];
        for (int k = 0; k < c; k++)
            for (int i = 0; i < n; i++) m[i] += r.Values[k * n + i];
        for (int i = 0; i < n; i++) m[i] /= c;
        return new Heatmap(w, h, m);
    }

    private static Heatmap OuterMean(ReportedTensor ah, ReportedTensor aw)
    {
        // a_h: (C, H, 1), a_w: (C, 1, W); the layer multiplies x by both, so its attention at (i, j) is a_h[c,i]·a_w[c,j].
        int c = ah.Shape[0], h = ah.Shape[1], w = aw.Shape[2];
        var m = new float[h * w];
        for (int k = 0; k < c; k++)
            for (int i = 0; i < h; i++)
            {
                float a = ah.Values[k * h + i];
                for (int j = 0; j < w; j++) m[i * w + j] += a * aw.Values[k * w + j];
            }
        for (int i = 0; i < m.Length; i++) m[i] /= c;
        return new Heatmap(w, h, m);
    }

    private static float[] Softmax(float[] x)
    {
        if (x.Length == 0) return x;
        float max = x.Max();
        var e = x.Select(v => MathF.Exp(v - max)).ToArray();
        float sum = e.Sum();
        return e.Select(v => v / sum).ToArray();
    }
}

/// <summary>
/// Captures the attention maps of a model on one image: every attention layer (SE, PSA, CBAM, BAM, coordinate
/// attention, the residual attention soft mask) reports its maps to an intermediate hook during one evaluation-mode
/// forward pass without gradients; the maps are copied, the hooks removed, and the model's modes restored.
/// </summary>
public static class AttentionMaps
{
    /// <summary>The attention maps of <paramref name="model"/> on <paramref name="image"/> ((C, H, W) or (1, C, H, W), as the model takes it).</summary>
    /// <exception cref="ArgumentException">The image is not one (C, H, W) tensor.</exception>
    public static AttentionCapture Capture(Module<Tensor, Tensor> model, Tensor image)
    {
        ArgumentNullException.ThrowIfNull(model);
        ArgumentNullException.ThrowIfNull(image);
        using var state = new ModelScope(model);
        var reported = new List<ReportedTensor>();
        var handles = new List<IDisposable>();
        try
        {
            foreach (var (name, m) in model.NamedModules())
                handles.Add(m.RegisterIntermediateHook((module, what, value) =>
                {
                    var shape = value.Shape;
                    if (shape.Length == 0 || shape[0] != 1) return;   // one image
                    var labels = module is PSAModule psa
                        ? psa.Convs.Select(c => $"{c.Weight.Size(2)}x{c.Weight.Size(3)} conv").ToArray()
                        : null;
                    reported.Add(new ReportedTensor(name, module.GetType().Name, what, shape.Skip(1).Select(d => (int)d).ToArray(), Copy(value), labels));
                }));
            using var scope = Tensor.NewDisposeScope();
            using var noGrad = TorchRuntime.NoGrad();
            var x = state.Input(image);
            var logits = model.Forward(x);
            return new AttentionCapture(reported, Copy(logits));
        }
        finally
        {
            foreach (var h in handles) h.Dispose();
        }
    }

    /// <summary>A float32 CPU copy of <paramref name="t"/>'s values.</summary>
    internal static float[] Copy(Tensor t)
    {
        using var d = t.Detach();
        using var f = d.To(Device.Cpu, DType.Float32);
        using var c = f.Contiguous();
        return c.ToArray<float>();
    }
}
