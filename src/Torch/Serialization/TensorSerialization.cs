using MLNet.Attention.Torch.Nn;

namespace MLNet.Attention.Torch.Serialization;

/// <summary>Bridges <see cref="RawTensor"/> (file formats) and <see cref="Tensor"/>/<see cref="Module"/> (libtorch).</summary>
public static class TensorSerialization
{
    /// <summary>A CPU tensor holding a copy of <paramref name="raw"/>.</summary>
    public static Tensor ToTensor(this RawTensor raw, Device? device = null)
    {
        ArgumentNullException.ThrowIfNull(raw);
        return Tensor.FromBytes(raw.Data, raw.DType, raw.Shape, device);
    }

    /// <summary>A contiguous host copy of <paramref name="tensor"/>.</summary>
    public static RawTensor ToRaw(this Tensor tensor)
    {
        ArgumentNullException.ThrowIfNull(tensor);
        return new RawTensor(tensor.DType, tensor.Shape, tensor.ToBytes());
    }

    /// <summary>Reads every tensor of a safetensors file into CPU tensors (file order).</summary>
    public static IReadOnlyList<KeyValuePair<string, Tensor>> LoadSafeTensors(string path) =>
        SafeTensors.Read(path).Select(p => new KeyValuePair<string, Tensor>(p.Key, p.Value.ToTensor().DetachFromDisposeScope())).ToList();

    /// <summary>Writes tensors to a safetensors file atomically.</summary>
    public static void SaveSafeTensors(string path, IEnumerable<KeyValuePair<string, Tensor>> tensors, IReadOnlyDictionary<string, string>? metadata = null) =>
        SafeTensors.Write(path, tensors.Select(p => new KeyValuePair<string, RawTensor>(p.Key, p.Value.ToRaw())), metadata);

    /// <summary>Saves the module's state dict as safetensors (keys as PyTorch names them).</summary>
    public static void Save(this Module module, string path, IReadOnlyDictionary<string, string>? metadata = null)
    {
        ArgumentNullException.ThrowIfNull(module);
        SaveSafeTensors(path, module.StateDict(), metadata);
    }

    /// <summary>
    /// Loads weights from a <c>.safetensors</c> file or a PyTorch <c>torch.save</c> file (<c>.pth</c>/<c>.pt</c>/<c>.bin</c>: a
    /// bare state dict or a dict holding <c>state_dict</c>), stripping a DataParallel <c>module.</c> prefix when asked.
    /// With <paramref name="strict"/>, any missing/unexpected key or shape mismatch throws and nothing is copied.
    /// </summary>
    public static LoadReport LoadWeights(this Module module, string path, bool strict = true, bool stripModulePrefix = true)
    {
        ArgumentNullException.ThrowIfNull(module);
        var raw = ReadStateDict(path, stripModulePrefix);
        var tensors = new List<KeyValuePair<string, Tensor>>(raw.Count);
        try
        {
            foreach (var (k, v) in raw) tensors.Add(new(k, v.ToTensor().DetachFromDisposeScope()));
            try
            {
                return module.LoadStateDict(tensors, strict);
            }
            catch (InvalidOperationException e)
            {
                throw new InvalidOperationException($"weights in '{path}' do not fit {module.GetType().Name}: {e.Message}", e);
            }
        }
        finally
        {
            foreach (var (_, t) in tensors) t.Dispose();
        }
    }

    /// <summary>
    /// The tensors of a <c>.safetensors</c> file or of a <c>torch.save</c> state dict (file order), stripping a
    /// DataParallel <c>module.</c> prefix when asked; the format is told by the name or, failing that, the first bytes.
    /// </summary>
    /// <exception cref="FileNotFoundException">The file does not exist.</exception>
    /// <exception cref="InvalidDataException">The file is not a readable checkpoint (the message names it).</exception>
    public static IReadOnlyList<KeyValuePair<string, RawTensor>> ReadStateDict(string path, bool stripModulePrefix = true)
    {
        ArgumentException.ThrowIfNullOrEmpty(path);
        if (!File.Exists(path)) throw new FileNotFoundException($"weights file '{path}' does not exist", path);
        return IsSafeTensors(path)
            ? SafeTensors.Read(path).Select(p => new KeyValuePair<string, RawTensor>(stripModulePrefix ? StripModule(p.Key) : p.Key, p.Value)).ToList()
            : PyTorchCheckpoint.LoadStateDict(path, stripModulePrefix);
    }

    private static string StripModule(string key) => key.StartsWith("module.", StringComparison.Ordinal) ? key["module.".Length..] : key;

    private static bool IsSafeTensors(string path)
    {
        if (path.EndsWith(".safetensors", StringComparison.OrdinalIgnoreCase)) return true;
        // Sniff: a zip (torch.save) starts with "PK"; anything else with a plausible JSON header is safetensors.
        using var f = File.OpenRead(path);
        Span<byte> head = stackalloc byte[9];
        int n = f.Read(head);
        return n == 9 && head[8] == (byte)'{';
    }
}
