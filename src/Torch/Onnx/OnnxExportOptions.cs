namespace MLNet.Attention.Torch.Onnx;

/// <summary>Settings of <see cref="OnnxExporter.Export"/>.</summary>
public sealed class OnnxExportOptions
{
    /// <summary>The lowest operator set the exporter writes.</summary>
    public const int MinOpset = 17;

    /// <summary>The highest operator set the exporter writes (every op it emits runs in ONNX Runtime 1.32 at each of 17..21).</summary>
    public const int MaxOpset = 21;

    /// <summary>
    /// The default operator set, 18: the reductions take their axes as an input (as every later set), LayerNormalization
    /// (17) is native; GroupNorm and GELU are written as their exact decompositions at every set (GroupNormalization-18
    /// scales per group, not per channel as PyTorch's, and was redefined in 21).
    /// </summary>
    public const int DefaultOpset = 18;

    /// <summary>The ONNX operator set (<see cref="MinOpset"/>..<see cref="MaxOpset"/>).</summary>
    public int Opset { get; set; } = DefaultOpset;

    /// <summary>Name of the graph input.</summary>
    public string InputName { get; set; } = "input";

    /// <summary>Names of the graph outputs, one per tensor the forward function returns.</summary>
    public IReadOnlyList<string> OutputNames { get; set; } = new[] { "output" };

    /// <summary>Dimension 0 of the input and of every output that follows it is symbolic ("batch").</summary>
    public bool DynamicBatch { get; set; } = true;

    /// <summary>Entries of the model's <c>metadata_props</c>.</summary>
    public IDictionary<string, string> Metadata { get; } = new Dictionary<string, string>();

    /// <summary>The graph's name (default: the module's type name).</summary>
    public string? GraphName { get; set; }

    internal void Validate()
    {
        if (Opset is < MinOpset or > MaxOpset)
            throw new ArgumentOutOfRangeException(nameof(Opset), Opset, $"the exporter writes operator sets {MinOpset}..{MaxOpset}");
        ArgumentException.ThrowIfNullOrEmpty(InputName, nameof(InputName));
        ArgumentNullException.ThrowIfNull(OutputNames, nameof(OutputNames));
        if (OutputNames.Count == 0) throw new ArgumentException("at least one output name is needed", nameof(OutputNames));
        var seen = new HashSet<string>(StringComparer.Ordinal) { InputName };
        foreach (var n in OutputNames)
        {
            if (string.IsNullOrEmpty(n)) throw new ArgumentException("output names may not be empty", nameof(OutputNames));
            if (!seen.Add(n)) throw new ArgumentException($"the name '{n}' is used twice among the input and output names", nameof(OutputNames));
        }
    }
}
