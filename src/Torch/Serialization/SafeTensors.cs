using System.Buffers.Binary;
using System.Text.Json;

namespace MLNet.Attention.Torch.Serialization;

/// <summary>
/// Reads and writes the safetensors format: an 8-byte little-endian header length, a JSON
/// header <c>{name: {"dtype", "shape", "data_offsets"}}</c> with an optional
/// <c>"__metadata__"</c> object of strings, then the tensors' bytes.
/// </summary>
/// <remarks>
/// Every malformed input raises <see cref="InvalidDataException"/> whose message names the file
/// (or "stream") and what is wrong with it. Dtype names: F64 F32 F16 BF16 I64 I32 I16 I8 U8 BOOL.
/// </remarks>
public static class SafeTensors
{
    /// <summary>The largest header accepted, in bytes (100 MB); a longer one is taken as corruption.</summary>
    public const long MaxHeaderBytes = 100_000_000;

    private const string MetadataKey = "__metadata__";

    private static readonly (DType DType, string Name)[] DTypeNames =
    [
        (DType.Float64, "F64"), (DType.Float32, "F32"), (DType.Float16, "F16"), (DType.BFloat16, "BF16"),
        (DType.Int64, "I64"), (DType.Int32, "I32"), (DType.Int16, "I16"), (DType.Int8, "I8"),
        (DType.UInt8, "U8"), (DType.Bool, "BOOL"),
    ];

    /// <summary>The safetensors name of a dtype ("F32", "BF16", ...).</summary>
    /// <param name="dtype">The dtype.</param>
    public static string DTypeName(DType dtype)
    {
        foreach (var (d, name) in DTypeNames)
        {
            if (d == dtype)
            {
                return name;
            }
        }
        throw new ArgumentOutOfRangeException(nameof(dtype), dtype, "no safetensors name for this dtype");
    }

    /// <summary>The dtype of a safetensors dtype name, or false if the name is not one this library knows.</summary>
    /// <param name="name">A safetensors dtype name such as "F32".</param>
    /// <param name="dtype">The dtype, when found.</param>
    public static bool TryParseDType(string name, out DType dtype)
    {
        foreach (var (d, n) in DTypeNames)
        {
            if (n == name)
            {
                dtype = d;
                return true;
            }
        }
        dtype = default;
        return false;
    }

    /// <summary>Reads every tensor of a safetensors file, in the order of their data offsets.</summary>
    /// <param name="path">The file.</param>
    /// <exception cref="InvalidDataException">The file is malformed; the message names the file and the reason.</exception>
    public static IReadOnlyList<KeyValuePair<string, RawTensor>> Read(string path) => Read(path, out _);

    /// <summary>Reads every tensor of a safetensors file, in the order of their data offsets, and its metadata.</summary>
    /// <param name="path">The file.</param>
    /// <param name="metadata">The header's <c>"__metadata__"</c> entries; empty when it has none.</param>
    /// <exception cref="InvalidDataException">The file is malformed; the message names the file and the reason.</exception>
    public static IReadOnlyList<KeyValuePair<string, RawTensor>> Read(string path, out IReadOnlyDictionary<string, string> metadata)
    {
        ArgumentNullException.ThrowIfNull(path);
        using var stream = new FileStream(path, FileMode.Open, FileAccess.Read, FileShare.Read, 1 << 16);
        return ReadCore(stream, $"safetensors file '{path}'", out metadata);
    }

    /// <summary>Reads every tensor of a safetensors stream, from its current position, in the order of their data offsets.</summary>
    /// <param name="stream">The stream; it need not be seekable. It is left open.</param>
    /// <exception cref="InvalidDataException">The data is malformed; the message says "stream" and the reason.</exception>
    public static IReadOnlyList<KeyValuePair<string, RawTensor>> Read(Stream stream) => Read(stream, out _);

    /// <summary>Reads every tensor of a safetensors stream, from its current position, in the order of their data offsets, and its metadata.</summary>
    /// <param name="stream">The stream; it need not be seekable. It is left open.</param>
    /// <param name="metadata">The header's <c>"__metadata__"</c> entries; empty when it has none.</param>
    /// <exception cref="InvalidDataException">The data is malformed; the message says "stream" and the reason.</exception>
    public static IReadOnlyList<KeyValuePair<string, RawTensor>> Read(Stream stream, out IReadOnlyDictionary<string, string> metadata)
    {
        ArgumentNullException.ThrowIfNull(stream);
        return ReadCore(stream, "safetensors stream", out metadata);
    }

    /// <summary>
    /// Writes tensors to a safetensors file, atomically: the data goes to a temporary file in the
    /// same folder, which then replaces <paramref name="path"/>. If anything fails, an existing
    /// file at <paramref name="path"/> is left as it was and the temporary file is removed.
    /// </summary>
    /// <param name="path">The file to write.</param>
    /// <param name="tensors">Named tensors, written in this order; names must be unique and not "__metadata__".</param>
    /// <param name="metadata">Optional string metadata, stored as the header's <c>"__metadata__"</c>.</param>
    /// <exception cref="ArgumentException">A null, duplicate or reserved name, or a null tensor.</exception>
    public static void Write(string path, IEnumerable<KeyValuePair<string, RawTensor>> tensors, IReadOnlyDictionary<string, string>? metadata = null)
    {
        ArgumentNullException.ThrowIfNull(path);
        ArgumentNullException.ThrowIfNull(tensors);
        string full = Path.GetFullPath(path);
        string dir = Path.GetDirectoryName(full) ?? ".";
        string temp = Path.Combine(dir, $".{Path.GetFileName(full)}.{Guid.NewGuid():N}.tmp");
        try
        {
            using (var stream = new FileStream(temp, FileMode.CreateNew, FileAccess.Write, FileShare.None, 1 << 16))
            {
                Write(stream, tensors, metadata);
                stream.Flush(flushToDisk: true);
            }
            File.Move(temp, full, overwrite: true);
        }
        catch
        {
            try
            {
                File.Delete(temp);
            }
            catch (IOException)
            {
                // Best effort: the original error matters more than a leftover temporary file.
            }
            catch (UnauthorizedAccessException)
            {
                // Same.
            }
            throw;
        }
    }

    /// <summary>Writes tensors in the safetensors format to a stream, from its current position.</summary>
    /// <param name="stream">The stream; it is left open.</param>
    /// <param name="tensors">Named tensors, written in this order; names must be unique and not "__metadata__".</param>
    /// <param name="metadata">Optional string metadata, stored as the header's <c>"__metadata__"</c>.</param>
    /// <exception cref="ArgumentException">A null, duplicate or reserved name, or a null tensor.</exception>
    public static void Write(Stream stream, IEnumerable<KeyValuePair<string, RawTensor>> tensors, IReadOnlyDictionary<string, string>? metadata = null)
    {
        ArgumentNullException.ThrowIfNull(stream);
        ArgumentNullException.ThrowIfNull(tensors);

        var list = new List<KeyValuePair<string, RawTensor>>();
        var seen = new HashSet<string>(StringComparer.Ordinal);
        foreach (var (name, tensor) in tensors)
        {
            if (name is null)
            {
                throw new ArgumentException("a tensor name is null", nameof(tensors));
            }
            if (name == MetadataKey)
            {
                throw new ArgumentException($"'{MetadataKey}' is reserved and cannot name a tensor", nameof(tensors));
            }
            if (!seen.Add(name))
            {
                throw new ArgumentException($"duplicate tensor name '{name}'", nameof(tensors));
            }
            if (tensor is null)
            {
                throw new ArgumentException($"tensor '{name}' is null", nameof(tensors));
            }
            list.Add(new(name, tensor));
        }

        var header = new MemoryStream();
        using (var json = new Utf8JsonWriter(header))
        {
            json.WriteStartObject();
            if (metadata is { Count: > 0 })
            {
                json.WriteStartObject(MetadataKey);
                foreach (var (key, value) in metadata)
                {
                    json.WriteString(key, value);
                }
                json.WriteEndObject();
            }
            long offset = 0;
            foreach (var (name, tensor) in list)
            {
                json.WriteStartObject(name);
                json.WriteString("dtype", DTypeName(tensor.DType));
                json.WriteStartArray("shape");
                foreach (long d in tensor.Shape)
                {
                    json.WriteNumberValue(d);
                }
                json.WriteEndArray();
                json.WriteStartArray("data_offsets");
                json.WriteNumberValue(offset);
                offset += tensor.Data.LongLength;
                json.WriteNumberValue(offset);
                json.WriteEndArray();
                json.WriteEndObject();
            }
            json.WriteEndObject();
        }
        while (header.Length % 8 != 0)
        {
            header.WriteByte((byte)' ');
        }

        Span<byte> length = stackalloc byte[8];
        BinaryPrimitives.WriteUInt64LittleEndian(length, (ulong)header.Length);
        stream.Write(length);
        header.Position = 0;
        header.CopyTo(stream);
        foreach (var (_, tensor) in list)
        {
            stream.Write(tensor.Data);
        }
        stream.Flush();
    }

    private sealed record Entry(string Name, DType DType, long[] Shape, long Begin, long End);

    private static IReadOnlyList<KeyValuePair<string, RawTensor>> ReadCore(Stream stream, string source, out IReadOnlyDictionary<string, string> metadata)
    {
        InvalidDataException Bad(string reason) => new($"invalid {source}: {reason}");

        long? available = null;
        if (stream.CanSeek)
        {
            available = Math.Max(0, stream.Length - stream.Position);
            if (available < 8)
            {
                throw Bad($"it is shorter than 8 bytes ({available} bytes), so it has no header length");
            }
        }

        Span<byte> lengthBytes = stackalloc byte[8];
        int got = ReadFully(stream, lengthBytes);
        if (got < 8)
        {
            throw Bad($"it is shorter than 8 bytes ({got} bytes), so it has no header length");
        }
        ulong headerLength = BinaryPrimitives.ReadUInt64LittleEndian(lengthBytes);
        if (headerLength > MaxHeaderBytes)
        {
            throw Bad($"header length {headerLength} is absurd (more than {MaxHeaderBytes} bytes): the file is corrupt or not safetensors");
        }
        if (available is long avail && (long)headerLength > avail - 8)
        {
            throw Bad($"header length {headerLength} is larger than the rest of the file ({avail - 8} bytes)");
        }

        var headerBytes = new byte[headerLength];
        if (ReadFully(stream, headerBytes) < headerBytes.Length)
        {
            throw Bad($"truncated: the file ends inside the {headerLength}-byte header");
        }

        if (!System.Text.Unicode.Utf8.IsValid(headerBytes))
        {
            throw Bad("the header is not valid JSON (it is not valid UTF-8)");
        }

        var entries = new List<Entry>();
        var meta = new Dictionary<string, string>(StringComparer.Ordinal);
        JsonDocument doc;
        try
        {
            doc = JsonDocument.Parse(headerBytes, new JsonDocumentOptions { MaxDepth = 16 });
        }
        catch (JsonException e)
        {
            throw Bad($"the header is not valid JSON ({e.Message})");
        }
        using (doc)
        {
            if (doc.RootElement.ValueKind != JsonValueKind.Object)
            {
                throw Bad($"the header is not a JSON object but {doc.RootElement.ValueKind}");
            }
            try
            {
                ReadHeaderEntries(doc.RootElement, entries, meta, Bad);
            }
            catch (InvalidOperationException e)
            {
                // JsonElement's string getters throw this for an escaped lone surrogate ("\ud800"), which valid
                // UTF-8 JSON text can hold but no string can (found by ParserFuzzTests).
                throw Bad($"the header holds a name or string that is not valid Unicode ({e.Message})");
            }
        }

        // The tensors must tile the data section exactly: no gaps, no overlaps, nothing after.
        var ordered = entries.OrderBy(e => e.Begin).ThenBy(e => e.End).ToList();
        long cursor = 0;
        Entry? previous = null;
        foreach (var e in ordered)
        {
            if (e.Begin < cursor)
            {
                throw Bad($"data_offsets of tensors '{previous!.Name}' [{previous.Begin}, {previous.End}] and '{e.Name}' [{e.Begin}, {e.End}] overlap");
            }
            if (e.Begin > cursor)
            {
                throw Bad($"data_offsets do not cover the data: bytes [{cursor}, {e.Begin}) belong to no tensor (before '{e.Name}')");
            }
            cursor = e.End;
            previous = e;
        }
        if (available is long total)
        {
            long dataBytes = total - 8 - (long)headerLength;
            if (cursor > dataBytes)
            {
                throw Bad($"truncated: the tensors need {cursor} bytes of data after the header but only {dataBytes} remain");
            }
            if (cursor < dataBytes)
            {
                throw Bad($"data_offsets do not cover the data: {dataBytes} bytes follow the header but the tensors use only {cursor}");
            }
        }

        var result = new List<KeyValuePair<string, RawTensor>>(ordered.Count);
        foreach (var e in ordered)
        {
            long length = e.End - e.Begin;
            if (length > Array.MaxLength)
            {
                throw Bad($"tensor '{e.Name}' is {length} bytes, more than one array can hold");
            }
            byte[] data = ReadBlock(stream, (int)length, stream.CanSeek)
                ?? throw Bad($"truncated: the data of tensor '{e.Name}' (bytes [{e.Begin}, {e.End}) after the header) ends early");
            result.Add(new(e.Name, new RawTensor(e.DType, e.Shape, data)));
        }
        if (!stream.CanSeek && stream.ReadByte() != -1)
        {
            throw Bad($"data_offsets do not cover the data: more bytes follow the {cursor} bytes the tensors use");
        }
        metadata = meta;
        return result;
    }

    private static void ReadHeaderEntries(JsonElement root, List<Entry> entries, Dictionary<string, string> meta, Func<string, InvalidDataException> bad)
    {
        var names = new HashSet<string>(StringComparer.Ordinal);
        bool sawMetadata = false;
        foreach (var property in root.EnumerateObject())
        {
            string name = property.Name;
            if (name == MetadataKey)
            {
                if (sawMetadata)
                {
                    throw bad($"'{MetadataKey}' appears twice in the header");
                }
                sawMetadata = true;
                if (property.Value.ValueKind != JsonValueKind.Object)
                {
                    throw bad($"'{MetadataKey}' is not an object of strings");
                }
                foreach (var m in property.Value.EnumerateObject())
                {
                    if (m.Value.ValueKind != JsonValueKind.String)
                    {
                        throw bad($"metadata entry '{m.Name}' is {m.Value.ValueKind}, not a string");
                    }
                    if (!meta.TryAdd(m.Name, m.Value.GetString()!))
                    {
                        throw bad($"metadata entry '{m.Name}' appears twice");
                    }
                }
                continue;
            }
            if (!names.Add(name))
            {
                throw bad($"duplicate tensor name '{name}'");
            }
            entries.Add(ParseEntry(name, property.Value, bad));
        }
    }

    private static Entry ParseEntry(string name, JsonElement value, Func<string, InvalidDataException> bad)
    {
        if (value.ValueKind != JsonValueKind.Object)
        {
            throw bad($"tensor '{name}' is described by {value.ValueKind}, not an object");
        }
        if (!value.TryGetProperty("dtype", out var dtypeElement) || dtypeElement.ValueKind != JsonValueKind.String)
        {
            throw bad($"tensor '{name}' has no \"dtype\" string");
        }
        string dtypeName = dtypeElement.GetString()!;
        if (!TryParseDType(dtypeName, out var dtype))
        {
            throw bad($"tensor '{name}' has unknown dtype '{dtypeName}' (known: {string.Join(" ", DTypeNames.Select(d => d.Name))})");
        }
        if (!value.TryGetProperty("shape", out var shapeElement) || shapeElement.ValueKind != JsonValueKind.Array)
        {
            throw bad($"tensor '{name}' has no \"shape\" array");
        }
        var shape = new List<long>();
        foreach (var d in shapeElement.EnumerateArray())
        {
            if (d.ValueKind != JsonValueKind.Number || !d.TryGetInt64(out long n) || n < 0)
            {
                throw bad($"tensor '{name}' has a shape that is not a list of non-negative integers");
            }
            shape.Add(n);
        }
        if (!value.TryGetProperty("data_offsets", out var offsetsElement) || offsetsElement.ValueKind != JsonValueKind.Array
            || offsetsElement.GetArrayLength() != 2)
        {
            throw bad($"tensor '{name}' has no \"data_offsets\" array of two integers");
        }
        var offsets = new long[2];
        for (int i = 0; i < 2; i++)
        {
            var o = offsetsElement[i];
            if (o.ValueKind != JsonValueKind.Number || !o.TryGetInt64(out offsets[i]) || offsets[i] < 0)
            {
                throw bad($"tensor '{name}' has data_offsets that are not non-negative integers");
            }
        }
        if (offsets[1] < offsets[0])
        {
            throw bad($"tensor '{name}' has data_offsets [{offsets[0]}, {offsets[1]}] that end before they begin");
        }
        long? count = RawTensor.CountElements(shape);
        long span = offsets[1] - offsets[0];
        if (count is null || count.Value > long.MaxValue / dtype.ElementSize() || count.Value * dtype.ElementSize() != span)
        {
            string need = count is null || count.Value > long.MaxValue / dtype.ElementSize()
                ? "an impossible number of"
                : (count.Value * dtype.ElementSize()).ToString(System.Globalization.CultureInfo.InvariantCulture);
            throw bad($"tensor '{name}': shape [{string.Join(", ", shape)}] of {dtypeName} needs {need} bytes but data_offsets [{offsets[0]}, {offsets[1]}] span {span}");
        }
        return new Entry(name, dtype, shape.ToArray(), offsets[0], offsets[1]);
    }

    /// <summary>Reads until <paramref name="buffer"/> is full or the stream ends; returns the bytes read.</summary>
    internal static int ReadFully(Stream stream, Span<byte> buffer)
    {
        int total = 0;
        while (total < buffer.Length)
        {
            int n = stream.Read(buffer[total..]);
            if (n == 0)
            {
                break;
            }
            total += n;
        }
        return total;
    }

    /// <summary>
    /// Reads exactly <paramref name="length"/> bytes, or returns null if the stream ends first.
    /// When the length was not checked against the stream's size (<paramref name="lengthTrusted"/>
    /// false), large blocks are read in chunks so a lying length cannot force a huge allocation.
    /// </summary>
    internal static byte[]? ReadBlock(Stream stream, int length, bool lengthTrusted)
    {
        const int Chunk = 16 << 20;
        if (lengthTrusted || length <= Chunk)
        {
            var data = GC.AllocateUninitializedArray<byte>(length);
            return ReadFully(stream, data) == length ? data : null;
        }
        var chunks = new List<byte[]>();
        long remaining = length;
        while (remaining > 0)
        {
            var chunk = GC.AllocateUninitializedArray<byte>((int)Math.Min(Chunk, remaining));
            if (ReadFully(stream, chunk) < chunk.Length)
            {
                return null;
            }
            chunks.Add(chunk);
            remaining -= chunk.Length;
        }
        var result = GC.AllocateUninitializedArray<byte>(length);
        int at = 0;
        foreach (var c in chunks)
        {
            c.CopyTo(result, at);
            at += c.Length;
        }
        return result;
    }
}
