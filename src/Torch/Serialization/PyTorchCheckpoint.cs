using System.Buffers.Binary;
using System.Collections;
using System.Globalization;
using System.IO.Compression;
using System.Numerics;
using System.Runtime.CompilerServices;
using System.Text;

namespace MLNet.Attention.Torch.Serialization;

/// <summary>
/// Reads checkpoints written by Python's <c>torch.save</c> in the zip format (the default since
/// PyTorch 1.6): a zip holding <c>&lt;archive&gt;/data.pkl</c>, a pickle of the saved object, and one
/// <c>&lt;archive&gt;/data/&lt;key&gt;</c> entry of raw bytes per tensor storage.
/// </summary>
/// <remarks>
/// The pickle is run by a small, safe virtual machine: no code is executed. Only an allow-list of
/// globals is understood (<c>collections.OrderedDict</c>, the tensor and parameter rebuild
/// functions of <c>torch._utils</c>, the <c>torch.*Storage</c> types, <c>torch.device</c>,
/// <c>torch.Size</c>, a few builtins); any other global becomes an opaque <see cref="PickleObject"/>,
/// which is an error only where a tensor is required. Every malformed input raises
/// <see cref="InvalidDataException"/> whose message names the file and the reason.
/// </remarks>
public static class PyTorchCheckpoint
{
    /// <summary>The keys under which a wrapping dict may hold the state dict, tried in this order.</summary>
    public static IReadOnlyList<string> StateDictKeys { get; } = ["state_dict", "model_state_dict", "model", "state_dict_ema"];

    private const string ModulePrefix = "module.";

    /// <summary>
    /// Loads the tensors of a state dict: either the saved object itself (a dict of tensors) or a dict
    /// found under one of <see cref="StateDictKeys"/> of the saved dict. Entries that are not tensors
    /// (and non-string keys) are skipped. Order is the dict's.
    /// </summary>
    /// <param name="path">A <c>.pth</c>/<c>.pt</c> file written by <c>torch.save</c>.</param>
    /// <param name="stripModulePrefix">Remove a leading <c>"module."</c> (added by DataParallel) from every key.</param>
    /// <exception cref="InvalidDataException">The file is not a readable checkpoint or holds no state dict; the message names the file and the reason.</exception>
    public static IReadOnlyList<KeyValuePair<string, RawTensor>> LoadStateDict(string path, bool stripModulePrefix = true)
    {
        object? root = LoadObject(path);
        if (root is not PickleDict top)
        {
            string hint = root is PickleObject ? " (torch.save(model) pickles the module's class; save model.state_dict() instead)" : "";
            throw Bad(path, $"no state dict found: the saved object is {Describe(root)}, not a dict{hint}");
        }
        PickleDict? stateDict = null;
        foreach (string key in StateDictKeys)
        {
            if (top.TryGetValue(key, out object? value) && value is PickleDict inner && HasTensor(inner))
            {
                stateDict = inner;
                break;
            }
        }
        if (stateDict is null && HasTensor(top))
        {
            stateDict = top;
        }
        if (stateDict is null)
        {
            var keys = top.Keys.Take(20).Select(k => k is string s ? $"'{s}'" : Describe(k)).ToList();
            string more = top.Count > 20 ? $", ... ({top.Count} in all)" : "";
            throw Bad(path, $"no state dict found: the saved dict holds no tensors and no dict of tensors under "
                + $"{string.Join(", ", StateDictKeys.Select(k => $"'{k}'"))}; its top-level keys are: "
                + (keys.Count == 0 ? "(none)" : string.Join(", ", keys) + more));
        }

        var result = new List<KeyValuePair<string, RawTensor>>();
        var seen = new HashSet<string>(StringComparer.Ordinal);
        foreach (var (key, value) in stateDict)
        {
            if (key is string k && value is PickleObject { Callable: PickleGlobal g } && g.Module.StartsWith("torch", StringComparison.Ordinal))
            {
                throw Bad(path, $"state dict entry '{k}' is saved as {g.FullName}(...), a tensor form this reader does not support");
            }
            if (key is not string name || value is not RawTensor tensor)
            {
                continue;
            }
            if (stripModulePrefix && name.StartsWith(ModulePrefix, StringComparison.Ordinal))
            {
                name = name[ModulePrefix.Length..];
            }
            if (!seen.Add(name))
            {
                throw Bad(path, $"key '{name}' appears twice in the state dict after stripping the '{ModulePrefix}' prefix");
            }
            result.Add(new(name, tensor));
        }
        return result;
    }

    /// <summary>
    /// Loads the whole object saved by <c>torch.save</c>. Dicts come out as <see cref="PickleDict"/>,
    /// lists and sets as <c>List&lt;object?&gt;</c>, tuples as <c>object?[]</c>, strings as
    /// <see cref="string"/>, ints as <see cref="long"/> (or <see cref="BigInteger"/> past 64 bits),
    /// floats as <see cref="double"/>, bools, <c>null</c>, bytes as <c>byte[]</c>, tensors (and
    /// parameters) as <see cref="RawTensor"/>, unknown globals as <see cref="PickleGlobal"/> and
    /// objects built from them as <see cref="PickleObject"/>.
    /// </summary>
    /// <param name="path">A file written by <c>torch.save</c>.</param>
    /// <exception cref="InvalidDataException">The file is not a readable checkpoint; the message names the file and the reason.</exception>
    public static object? LoadObject(string path)
    {
        ArgumentNullException.ThrowIfNull(path);
        using var file = new FileStream(path, FileMode.Open, FileAccess.Read, FileShare.Read, 1 << 16);
        CheckMagic(file, path);
        file.Position = 0;

        ZipArchive zip;
        try
        {
            zip = new ZipArchive(file, ZipArchiveMode.Read, leaveOpen: true);
        }
        catch (InvalidDataException e)
        {
            throw Bad(path, $"the zip archive is truncated or corrupt ({e.Message})");
        }
        try
        {
            // The central directory is read lazily, on the first use of Entries: read it here, where its errors are
            // the file's (found by ParserFuzzTests: an edited entry count escaped as a bare InvalidDataException).
            _ = zip.Entries;
        }
        catch (InvalidDataException e)
        {
            zip.Dispose();
            throw Bad(path, $"the zip archive's central directory is corrupt ({e.Message})");
        }
        using (zip)
        {
            var pickleEntry = zip.Entries.FirstOrDefault(e => e.FullName.EndsWith("/data.pkl", StringComparison.Ordinal)
                                                               && e.FullName.IndexOf('/') == e.FullName.Length - "/data.pkl".Length)
                ?? zip.GetEntry("data.pkl");
            if (pickleEntry is null)
            {
                var names = zip.Entries.Take(10).Select(e => e.FullName).ToList();
                throw Bad(path, "the zip has no data.pkl entry, so it is not a torch.save checkpoint (entries: "
                    + (names.Count == 0 ? "none" : string.Join(", ", names) + (zip.Entries.Count > 10 ? ", ..." : "")) + ")");
            }
            string prefix = pickleEntry.FullName[..^"data.pkl".Length];

            var byteOrderEntry = zip.GetEntry(prefix + "byteorder");
            if (byteOrderEntry is not null)
            {
                string order = Encoding.ASCII.GetString(ReadEntry(byteOrderEntry, path, 64)).Trim();
                if (order != "little")
                {
                    throw Bad(path, $"it was written on a big-endian machine (byteorder '{order}'); only little-endian checkpoints are supported");
                }
            }

            byte[] pickle = ReadEntry(pickleEntry, path, Array.MaxLength);
            var storages = new Dictionary<string, StorageRef>(StringComparer.Ordinal);
            object? PersistentLoad(object? pid) => LoadStorage(pid, zip, prefix, path, storages);
            var vm = new Unpickler(pickle, pickleEntry.FullName, path, PersistentLoad);
            object? root = vm.Load();
            return ReplaceStorages(root, path);
        }
    }

    private static void CheckMagic(FileStream file, string path)
    {
        Span<byte> head = stackalloc byte[4];
        int n = SafeTensors.ReadFully(file, head);
        if (n == 0)
        {
            throw Bad(path, "the file is empty: not a PyTorch checkpoint");
        }
        if (n >= 2 && head[0] == (byte)'P' && head[1] == (byte)'K')
        {
            return;
        }
        if (n >= 2 && head[0] == 0x80 && head[1] is >= 1 and <= 5)
        {
            throw Bad(path, "it is not a PyTorch zip checkpoint; legacy (pre-1.6, _use_new_zipfile_serialization=False) "
                + "files are not supported: re-save with torch.save in PyTorch >= 1.6");
        }
        throw Bad(path, "not a PyTorch checkpoint (it is not a zip archive)");
    }

    internal static InvalidDataException Bad(string path, string reason) =>
        new($"invalid PyTorch checkpoint '{path}': {reason}");

    /// <summary>Reads a whole zip entry, refusing sizes that cannot be right before allocating.</summary>
    private static byte[] ReadEntry(ZipArchiveEntry entry, string path, long maxBytes)
    {
        long length, compressed;
        try
        {
            length = entry.Length;
            compressed = entry.CompressedLength;
        }
        catch (InvalidDataException e)
        {
            throw Bad(path, $"zip entry '{entry.FullName}' is corrupt ({e.Message})");
        }
        if (length > maxBytes || length > Array.MaxLength)
        {
            throw Bad(path, $"zip entry '{entry.FullName}' claims {length} bytes, more than can be read");
        }
        // Deflate cannot expand more than about 1032:1; a larger claim is corruption (or a zip bomb).
        if (length > compressed * 1100 + 4096)
        {
            throw Bad(path, $"zip entry '{entry.FullName}' claims {length} bytes from {compressed} compressed bytes: the zip is corrupt");
        }
        byte[]? data;
        try
        {
            using var stream = entry.Open();
            data = SafeTensors.ReadBlock(stream, (int)length, lengthTrusted: false);
        }
        catch (Exception e) when (e is InvalidDataException or EndOfStreamException)
        {
            throw Bad(path, $"zip entry '{entry.FullName}' is truncated or corrupt ({e.Message})");
        }
        if (data is null)
        {
            throw Bad(path, $"zip entry '{entry.FullName}' is truncated: it ends before its {length} bytes");
        }
        uint crc = ZipCrc32.Compute(data);
        if (crc != entry.Crc32)
        {
            throw Bad(path, $"zip entry '{entry.FullName}' is corrupt: its CRC-32 is {crc:x8} but the zip records {entry.Crc32:x8}");
        }
        return data;
    }

    private static DType? StorageDType(string name) => name switch
    {
        "FloatStorage" => DType.Float32,
        "DoubleStorage" => DType.Float64,
        "HalfStorage" => DType.Float16,
        "BFloat16Storage" => DType.BFloat16,
        "LongStorage" => DType.Int64,
        "IntStorage" => DType.Int32,
        "ShortStorage" => DType.Int16,
        "CharStorage" => DType.Int8,
        "ByteStorage" => DType.UInt8,
        "BoolStorage" => DType.Bool,
        "UntypedStorage" => DType.UInt8,
        _ => null,
    };

    private static object LoadStorage(object? pid, ZipArchive zip, string prefix, string path, Dictionary<string, StorageRef> storages)
    {
        if (pid is not object?[] { Length: 5 } t || t[0] is not "storage")
        {
            throw Bad(path, $"unsupported persistent id {Describe(pid)}: expected ('storage', type, key, location, numel)");
        }
        if (t[1] is not PickleGlobal { Module: "torch" or "torch.storage" } storageType)
        {
            throw Bad(path, $"persistent id names {Describe(t[1])} as its storage type, not a torch storage class");
        }
        if (t[2] is not string key || t[4] is not long numel || numel < 0)
        {
            throw Bad(path, $"malformed storage persistent id (key {Describe(t[2])}, numel {Describe(t[4])})");
        }
        if (storages.TryGetValue(key, out var cached))
        {
            return cached;
        }
        DType? dtype = StorageDType(storageType.Name);
        var storage = new StorageRef(key, storageType.FullName, dtype, numel);
        if (dtype is DType d)
        {
            if (numel > Array.MaxLength / d.ElementSize())
            {
                throw Bad(path, $"storage '{key}' declares {numel} elements of {d}, more than can be read");
            }
            string entryName = prefix + "data/" + key;
            var entry = zip.GetEntry(entryName) ?? throw Bad(path, $"missing storage entry '{entryName}' (storage '{key}' of {storageType.FullName})");
            long needed = numel * d.ElementSize();
            long length;
            try
            {
                length = entry.Length;
            }
            catch (InvalidDataException e)
            {
                throw Bad(path, $"zip entry '{entryName}' is corrupt ({e.Message})");
            }
            if (length < needed)
            {
                throw Bad(path, $"storage '{key}' is too small: entry '{entryName}' holds {length} bytes but {numel} elements of {d} need {needed}");
            }
            storage.Bytes = ReadEntry(entry, path, Array.MaxLength);
        }
        storages.Add(key, storage);
        return storage;
    }

    /// <summary>A storage loaded from the zip, shared by the tensors that view it.</summary>
    internal sealed class StorageRef(string key, string typeName, DType? dtype, long numel)
    {
        public string Key { get; } = key;
        public string TypeName { get; } = typeName;
        public DType? DType { get; } = dtype;
        public long Numel { get; } = numel;
        public byte[] Bytes { get; set; } = [];

        /// <summary>True once <see cref="Bytes"/> was handed to a tensor as its data: later users copy.</summary>
        public bool Donated { get; set; }
    }

    /// <summary><c>_rebuild_tensor_v2(storage, storage_offset, size, stride, ...)</c>: a contiguous copy of the view.</summary>
    internal static RawTensor RebuildTensor(object? storageObject, object? offsetObject, object? sizeObject, object? strideObject, string path)
    {
        if (storageObject is not StorageRef storage)
        {
            throw Bad(path, $"a tensor is rebuilt from {Describe(storageObject)} instead of a storage");
        }
        if (storage.DType is not DType dtype)
        {
            throw Bad(path, $"storage '{storage.Key}' is a {storage.TypeName}, a type this reader does not support");
        }
        long[] size = ToLongs(sizeObject, "size", path);
        long[] stride = ToLongs(strideObject, "stride", path);
        if (offsetObject is not long offset || offset < 0)
        {
            throw Bad(path, $"a tensor on storage '{storage.Key}' has storage offset {Describe(offsetObject)}");
        }
        string View() => $"size [{string.Join(", ", size)}], stride [{string.Join(", ", stride)}], offset {offset}";
        if (size.Length != stride.Length || size.Any(s => s < 0) || stride.Any(s => s < 0))
        {
            throw Bad(path, $"a tensor on storage '{storage.Key}' has an invalid view: {View()}");
        }
        long count = RawTensor.CountElements(size) ?? throw Bad(path, $"a tensor on storage '{storage.Key}' has too many elements: {View()}");
        int es = dtype.ElementSize();
        if (count == 0)
        {
            return new RawTensor(dtype, size, []);
        }
        long last = offset;
        try
        {
            for (int i = 0; i < size.Length; i++)
            {
                last = checked(last + ((size[i] - 1) * stride[i]));
            }
        }
        catch (OverflowException)
        {
            last = long.MaxValue;
        }
        if (last >= storage.Numel)
        {
            throw Bad(path, $"storage '{storage.Key}' is too small ({storage.Numel} elements) for a tensor with {View()}");
        }
        if (count > Array.MaxLength / es)
        {
            throw Bad(path, $"a tensor on storage '{storage.Key}' is too large to hold in one array: {View()}");
        }

        int n = size.Length;
        long block = 1;
        int k = n - 1;
        while (k >= 0 && (size[k] == 1 || stride[k] == block))
        {
            block *= size[k];
            k--;
        }
        if (k < 0 && offset == 0 && count == storage.Numel && storage.Bytes.LongLength == count * es && !storage.Donated)
        {
            storage.Donated = true;
            return new RawTensor(dtype, size, storage.Bytes);
        }

        var data = GC.AllocateUninitializedArray<byte>((int)(count * es));
        ReadOnlySpan<byte> src = storage.Bytes;
        int blockBytes = (int)(block * es);
        var index = new long[Math.Max(k + 1, 0)];
        long srcElement = offset;
        long blocks = count / block;
        int dst = 0;
        for (long b = 0; b < blocks; b++)
        {
            src.Slice((int)(srcElement * es), blockBytes).CopyTo(data.AsSpan(dst, blockBytes));
            dst += blockBytes;
            for (int d = k; d >= 0; d--)
            {
                index[d]++;
                srcElement += stride[d];
                if (index[d] < size[d])
                {
                    break;
                }
                srcElement -= stride[d] * size[d];
                index[d] = 0;
            }
        }
        return new RawTensor(dtype, size, data);
    }

    private static long[] ToLongs(object? value, string what, string path)
    {
        if (value is object?[] items && items.All(i => i is long))
        {
            return items.Select(i => (long)i!).ToArray();
        }
        throw Bad(path, $"a tensor's {what} is {Describe(value)}, not a tuple of ints");
    }

    /// <summary>True if the dict holds a tensor, or something torch built that may be one (reported later as unsupported).</summary>
    private static bool HasTensor(PickleDict dict) =>
        dict.Any(kv => kv.Value is RawTensor || kv.Value is PickleObject { Callable: PickleGlobal g } && g.Module.StartsWith("torch", StringComparison.Ordinal));

    /// <summary>Replaces storages left in the object graph (saved on their own) by 1-D tensors.</summary>
    private static object? ReplaceStorages(object? root, string path)
    {
        object? Fix(object? value) => value is StorageRef s ? StorageAsTensor(s, path) : value;
        root = Fix(root);
        var visited = new HashSet<object>(ReferenceEqualityComparer.Instance);
        var pending = new Stack<object>();
        if (root is not null)
        {
            pending.Push(root);
        }
        while (pending.Count > 0)
        {
            object current = pending.Pop();
            if (!visited.Add(current))
            {
                continue;
            }
            switch (current)
            {
                case List<object?> list:
                    for (int i = 0; i < list.Count; i++)
                    {
                        list[i] = Fix(list[i]);
                        Push(list[i]);
                    }
                    break;
                case object?[] tuple:
                    for (int i = 0; i < tuple.Length; i++)
                    {
                        tuple[i] = Fix(tuple[i]);
                        Push(tuple[i]);
                    }
                    break;
                case PickleDict dict:
                    dict.ReplaceValues(Fix);
                    foreach (var kv in dict)
                    {
                        Push(kv.Key);
                        Push(kv.Value);
                    }
                    break;
                case PickleObject obj:
                    obj.State = Fix(obj.State);
                    Push(obj.State);
                    Push(obj.Args);
                    Push(obj.ListItems);
                    Push(obj.DictItems);
                    Push(obj.KwArgs);
                    break;
            }
        }
        return root;

        void Push(object? value)
        {
            if (value is List<object?> or object?[] or PickleDict or PickleObject)
            {
                pending.Push(value);
            }
        }
    }

    private static RawTensor StorageAsTensor(StorageRef storage, string path)
    {
        if (storage.DType is not DType dtype)
        {
            throw Bad(path, $"storage '{storage.Key}' is a {storage.TypeName}, a type this reader does not support");
        }
        byte[] data = storage.Donated ? (byte[])storage.Bytes.Clone() : storage.Bytes;
        storage.Donated = true;
        return new RawTensor(dtype, [storage.Numel], data.Length == storage.Numel * dtype.ElementSize() ? data : data[..(int)(storage.Numel * dtype.ElementSize())]);
    }

    /// <summary>A short description of a pickled value for error messages.</summary>
    internal static string Describe(object? value) => value switch
    {
        null => "None",
        string s => s.Length <= 40 ? $"the string '{s}'" : $"a {s.Length}-character string",
        long or BigInteger => $"the int {value}",
        double d => $"the float {d.ToString(CultureInfo.InvariantCulture)}",
        bool b => b ? "True" : "False",
        byte[] bytes => $"{bytes.Length} bytes",
        RawTensor t => $"a tensor {t}",
        StorageRef s => $"storage '{s.Key}'",
        PickleDict d => $"a dict of {d.Count} entries",
        List<object?> l => $"a list of {l.Count} items",
        object?[] t => $"a tuple of {t.Length} items",
        PickleGlobal g => $"the global {g.FullName}",
        PickleObject { Callable: PickleGlobal } o => $"an opaque {o.TypeName} object (a global that is not on the allow-list)",
        PickleObject o => $"an opaque object built from {o.TypeName}",
        _ => value.GetType().Name,
    };
}

/// <summary>A Python dict (or <c>collections.OrderedDict</c>) read from a pickle, in insertion order.</summary>
public sealed class PickleDict : IEnumerable<KeyValuePair<object?, object?>>
{
    private readonly List<KeyValuePair<object?, object?>> _entries = [];
    private readonly Dictionary<object, int> _index = new(PickleKeyComparer.Instance);
    private static readonly object NullKey = new();

    /// <summary>Creates an empty dict.</summary>
    /// <param name="typeName">The Python type: "dict" or "collections.OrderedDict".</param>
    public PickleDict(string typeName = "dict") => TypeName = typeName;

    /// <summary>The Python type: "dict" or "collections.OrderedDict".</summary>
    public string TypeName { get; }

    /// <summary>Number of entries.</summary>
    public int Count => _entries.Count;

    /// <summary>The keys, in insertion order.</summary>
    public IEnumerable<object?> Keys => _entries.Select(e => e.Key);

    /// <summary>Gets or sets a value; setting an existing key keeps its position, as in Python.</summary>
    /// <param name="key">The key (strings, ints, tuples, ...).</param>
    /// <exception cref="KeyNotFoundException">Getting a key that is absent.</exception>
    public object? this[object? key]
    {
        get => TryGetValue(key, out object? value) ? value : throw new KeyNotFoundException($"key {PyTorchCheckpoint.Describe(key)} is not in the dict");
        set
        {
            if (_index.TryGetValue(key ?? NullKey, out int i))
            {
                _entries[i] = new(_entries[i].Key, value);
            }
            else
            {
                _index.Add(key ?? NullKey, _entries.Count);
                _entries.Add(new(key, value));
            }
        }
    }

    /// <summary>Looks a key up.</summary>
    /// <param name="key">The key.</param>
    /// <param name="value">Its value, when present.</param>
    public bool TryGetValue(object? key, out object? value)
    {
        if (_index.TryGetValue(key ?? NullKey, out int i))
        {
            value = _entries[i].Value;
            return true;
        }
        value = null;
        return false;
    }

    /// <summary>True if the key is present.</summary>
    /// <param name="key">The key.</param>
    public bool ContainsKey(object? key) => _index.ContainsKey(key ?? NullKey);

    /// <summary>The entries in insertion order.</summary>
    public IEnumerator<KeyValuePair<object?, object?>> GetEnumerator() => _entries.GetEnumerator();

    IEnumerator IEnumerable.GetEnumerator() => GetEnumerator();

    internal void ReplaceValues(Func<object?, object?> map)
    {
        for (int i = 0; i < _entries.Count; i++)
        {
            _entries[i] = new(_entries[i].Key, map(_entries[i].Value));
        }
    }

    /// <summary>A short description.</summary>
    public override string ToString() => $"{TypeName}({Count} entries)";
}

/// <summary>A reference to a Python global (module and name) that the reader does not resolve.</summary>
/// <param name="Module">The module, e.g. "argparse".</param>
/// <param name="Name">The qualified name inside the module, e.g. "Namespace".</param>
public sealed record PickleGlobal(string Module, string Name)
{
    /// <summary>"module.name".</summary>
    public string FullName => $"{Module}.{Name}";

    /// <summary>"module.name".</summary>
    public override string ToString() => FullName;
}

/// <summary>
/// An object the pickle builds by calling or instantiating a global that is not on the allow-list.
/// Nothing is executed: the call is recorded.
/// </summary>
public sealed class PickleObject
{
    internal PickleObject(object? callable, object?[] args)
    {
        Callable = callable;
        Args = args;
    }

    /// <summary>What was called: usually a <see cref="PickleGlobal"/>.</summary>
    public object? Callable { get; }

    /// <summary>The name of what was called, e.g. "argparse.Namespace".</summary>
    public string TypeName => Callable is PickleGlobal g ? g.FullName : PyTorchCheckpoint.Describe(Callable);

    /// <summary>The positional arguments of the call (or of <c>cls.__new__</c>).</summary>
    public object?[] Args { get; }

    /// <summary>Keyword arguments, when built by NEWOBJ_EX; otherwise null.</summary>
    public PickleDict? KwArgs { get; internal set; }

    /// <summary>The state set by BUILD (<c>__setstate__</c> / <c>__dict__</c>), or null.</summary>
    public object? State { get; internal set; }

    /// <summary>Items appended to the object (list subclasses).</summary>
    public List<object?> ListItems { get; } = [];

    /// <summary>Items set on the object (dict subclasses).</summary>
    public PickleDict DictItems { get; } = new();

    /// <summary>A short description.</summary>
    public override string ToString() => $"<opaque {TypeName}>";
}

/// <summary>CRC-32 (IEEE 802.3, as zip uses), slicing by 8.</summary>
internal static class ZipCrc32
{
    private static readonly uint[] Table = BuildTable();

    private static uint[] BuildTable()
    {
        var table = new uint[8 * 256];
        for (uint i = 0; i < 256; i++)
        {
            uint c = i;
            for (int k = 0; k < 8; k++)
            {
                c = (c & 1) != 0 ? 0xEDB88320u ^ (c >> 1) : c >> 1;
            }
            table[i] = c;
        }
        for (int i = 0; i < 256; i++)
        {
            for (int t = 1; t < 8; t++)
            {
                uint prev = table[((t - 1) * 256) + i];
                table[(t * 256) + i] = (prev >> 8) ^ table[prev & 0xFF];
            }
        }
        return table;
    }

    public static uint Compute(ReadOnlySpan<byte> data)
    {
        uint[] t = Table;
        uint crc = 0xFFFFFFFFu;
        while (data.Length >= 8)
        {
            uint one = BinaryPrimitives.ReadUInt32LittleEndian(data) ^ crc;
            uint two = BinaryPrimitives.ReadUInt32LittleEndian(data[4..]);
            crc = t[(7 * 256) + (one & 0xFF)] ^ t[(6 * 256) + ((one >> 8) & 0xFF)]
                ^ t[(5 * 256) + ((one >> 16) & 0xFF)] ^ t[(4 * 256) + (one >> 24)]
                ^ t[(3 * 256) + (two & 0xFF)] ^ t[(2 * 256) + ((two >> 8) & 0xFF)]
                ^ t[256 + ((two >> 16) & 0xFF)] ^ t[two >> 24];
            data = data[8..];
        }
        foreach (byte b in data)
        {
            crc = (crc >> 8) ^ t[(crc ^ b) & 0xFF];
        }
        return ~crc;
    }
}

/// <summary>Python-like equality for dict keys: tuples and bytes compare by content.</summary>
internal sealed class PickleKeyComparer : IEqualityComparer<object>
{
    public static readonly PickleKeyComparer Instance = new();
    private const int MaxDepth = 32;

    /// <summary>Tuple nodes that hashing and comparing dict keys may visit during one unpickling. Tuples can share
    /// their items, so a 300-byte pickle builds a key of 2^30 paths (DUP, TUPLE2 repeated): found by ParserFuzzTests
    /// as a hang. The depth limit alone does not bound that work; this budget does.</summary>
    internal const long LoadBudget = 20_000_000;

    [ThreadStatic] private static long t_left;
    [ThreadStatic] private static bool t_limited;

    /// <summary>Thrown when the budget of the load in progress is spent; the unpickler names the file.</summary>
    internal sealed class BudgetExceededException() : Exception("dict keys too complex to compare");

    /// <summary>Starts counting for an unpickling on this thread (until <see cref="EndLoad"/>).</summary>
    internal static void BeginLoad()
    {
        t_limited = true;
        t_left = LoadBudget;
    }

    internal static void EndLoad() => t_limited = false;

    private static void Visit()
    {
        if (t_limited && --t_left < 0)
        {
            throw new BudgetExceededException();
        }
    }

    public new bool Equals(object? x, object? y) => Eq(x, y, 0);

    public int GetHashCode(object obj) => Hash(obj, 0);

    private static bool Eq(object? x, object? y, int depth)
    {
        if (ReferenceEquals(x, y))
        {
            return true;
        }
        if (x is null || y is null || depth > MaxDepth)
        {
            return false;
        }
        if (x is object?[] a && y is object?[] b)
        {
            Visit();
            if (a.Length != b.Length)
            {
                return false;
            }
            for (int i = 0; i < a.Length; i++)
            {
                if (!Eq(a[i], b[i], depth + 1))
                {
                    return false;
                }
            }
            return true;
        }
        if (x is byte[] p && y is byte[] q)
        {
            return p.AsSpan().SequenceEqual(q);
        }
        if (x is PickleDict or List<object?> or PickleObject or RawTensor)
        {
            return false;
        }
        return x.Equals(y);
    }

    private static int Hash(object? obj, int depth)
    {
        switch (obj)
        {
            case null:
                return 0;
            case object?[] tuple:
                if (depth > MaxDepth)
                {
                    return 17;
                }
                Visit();
                var h = new HashCode();
                foreach (var item in tuple)
                {
                    h.Add(Hash(item, depth + 1));
                }
                return h.ToHashCode();
            case byte[] bytes:
                var hb = new HashCode();
                hb.AddBytes(bytes);
                return hb.ToHashCode();
            case PickleDict or List<object?> or PickleObject or RawTensor:
                return RuntimeHelpers.GetHashCode(obj);
            default:
                return obj.GetHashCode();
        }
    }
}

/// <summary>A pickle virtual machine for the opcodes <c>torch.save</c> emits (protocols 2 to 5). It executes nothing.</summary>
internal sealed class Unpickler(byte[] data, string entryName, string path, Func<object?, object?> persistentLoad)
{
    private readonly List<object?> _stack = [];
    private readonly Stack<int> _marks = new();
    private readonly Dictionary<long, object?> _memo = [];
    private int _pos;
    private int _opStart;

    private static readonly Dictionary<byte, string> OpcodeNames = new()
    {
        [(byte)'('] = "MARK", [(byte)'.'] = "STOP", [(byte)'0'] = "POP", [(byte)'1'] = "POP_MARK", [(byte)'2'] = "DUP",
        [(byte)'F'] = "FLOAT", [(byte)'I'] = "INT", [(byte)'J'] = "BININT", [(byte)'K'] = "BININT1", [(byte)'L'] = "LONG",
        [(byte)'M'] = "BININT2", [(byte)'N'] = "NONE", [(byte)'P'] = "PERSID", [(byte)'Q'] = "BINPERSID", [(byte)'R'] = "REDUCE",
        [(byte)'S'] = "STRING", [(byte)'T'] = "BINSTRING", [(byte)'U'] = "SHORT_BINSTRING", [(byte)'V'] = "UNICODE",
        [(byte)'X'] = "BINUNICODE", [(byte)'a'] = "APPEND", [(byte)'b'] = "BUILD", [(byte)'c'] = "GLOBAL", [(byte)'d'] = "DICT",
        [(byte)'}'] = "EMPTY_DICT", [(byte)'e'] = "APPENDS", [(byte)'g'] = "GET", [(byte)'h'] = "BINGET", [(byte)'i'] = "INST",
        [(byte)'j'] = "LONG_BINGET", [(byte)'l'] = "LIST", [(byte)']'] = "EMPTY_LIST", [(byte)'o'] = "OBJ", [(byte)'p'] = "PUT",
        [(byte)'q'] = "BINPUT", [(byte)'r'] = "LONG_BINPUT", [(byte)'s'] = "SETITEM", [(byte)'t'] = "TUPLE", [(byte)')'] = "EMPTY_TUPLE",
        [(byte)'u'] = "SETITEMS", [(byte)'G'] = "BINFLOAT", [(byte)'B'] = "BINBYTES", [(byte)'C'] = "SHORT_BINBYTES",
        [0x80] = "PROTO", [0x81] = "NEWOBJ", [0x82] = "EXT1", [0x83] = "EXT2", [0x84] = "EXT4", [0x85] = "TUPLE1",
        [0x86] = "TUPLE2", [0x87] = "TUPLE3", [0x88] = "NEWTRUE", [0x89] = "NEWFALSE", [0x8a] = "LONG1", [0x8b] = "LONG4",
        [0x8c] = "SHORT_BINUNICODE", [0x8d] = "BINUNICODE8", [0x8e] = "BINBYTES8", [0x8f] = "EMPTY_SET", [0x90] = "ADDITEMS",
        [0x91] = "FROZENSET", [0x92] = "NEWOBJ_EX", [0x93] = "STACK_GLOBAL", [0x94] = "MEMOIZE", [0x95] = "FRAME",
        [0x96] = "BYTEARRAY8", [0x97] = "NEXT_BUFFER", [0x98] = "READONLY_BUFFER",
    };

    private InvalidDataException Bad(string reason) =>
        PyTorchCheckpoint.Bad(path, $"{entryName}: {reason} (at byte {_opStart})");

    public object? Load()
    {
        PickleKeyComparer.BeginLoad();
        try
        {
            return Run();
        }
        catch (PickleKeyComparer.BudgetExceededException)
        {
            throw Bad($"its dict keys are too complex to compare (more than {PickleKeyComparer.LoadBudget.ToString("N0", CultureInfo.InvariantCulture)} tuple visits, "
                + "as from tuples that share their items many levels deep): the pickle is corrupt or hostile");
        }
        finally
        {
            PickleKeyComparer.EndLoad();
        }
    }

    private object? Run()
    {
        while (true)
        {
            _opStart = _pos;
            if (_pos >= data.Length)
            {
                throw Bad("the pickle is truncated: it ends without a STOP opcode");
            }
            byte op = data[_pos++];
            switch (op)
            {
                case 0x80: // PROTO
                    int protocol = ReadByte();
                    if (protocol > 5)
                    {
                        throw Bad($"unsupported pickle protocol {protocol}");
                    }
                    break;
                case 0x95: // FRAME
                    Take(8);
                    break;
                case (byte)'.': // STOP
                    return Pop();
                case (byte)'(': // MARK
                    _marks.Push(_stack.Count);
                    break;
                case (byte)'0': // POP
                    Pop();
                    break;
                case (byte)'1': // POP_MARK
                    PopMark();
                    break;
                case (byte)'2': // DUP
                    Push(Peek());
                    break;
                case (byte)'N':
                    Push(null);
                    break;
                case 0x88:
                    Push(true);
                    break;
                case 0x89:
                    Push(false);
                    break;
                case (byte)'J': // BININT
                    Push((long)BinaryPrimitives.ReadInt32LittleEndian(Take(4)));
                    break;
                case (byte)'K': // BININT1
                    Push((long)ReadByte());
                    break;
                case (byte)'M': // BININT2
                    Push((long)BinaryPrimitives.ReadUInt16LittleEndian(Take(2)));
                    break;
                case 0x8a: // LONG1
                    Push(ToInteger(Take(ReadByte())));
                    break;
                case 0x8b: // LONG4
                    Push(ToInteger(Take(ReadLength(4))));
                    break;
                case (byte)'G': // BINFLOAT
                    Push(BinaryPrimitives.ReadDoubleBigEndian(Take(8)));
                    break;
                case (byte)'X': // BINUNICODE
                    Push(Utf8(Take(ReadLength(4))));
                    break;
                case 0x8c: // SHORT_BINUNICODE
                    Push(Utf8(Take(ReadByte())));
                    break;
                case 0x8d: // BINUNICODE8
                    Push(Utf8(Take(ReadLength(8))));
                    break;
                case (byte)'T': // BINSTRING (Python 2 str)
                    Push(Encoding.Latin1.GetString(Take(ReadLength(4))));
                    break;
                case (byte)'U': // SHORT_BINSTRING
                    Push(Encoding.Latin1.GetString(Take(ReadByte())));
                    break;
                case (byte)'C': // SHORT_BINBYTES
                    Push(Take(ReadByte()).ToArray());
                    break;
                case (byte)'B': // BINBYTES
                    Push(Take(ReadLength(4)).ToArray());
                    break;
                case 0x8e: // BINBYTES8
                case 0x96: // BYTEARRAY8
                    Push(Take(ReadLength(8)).ToArray());
                    break;
                case (byte)'}': // EMPTY_DICT
                    Push(new PickleDict());
                    break;
                case (byte)']': // EMPTY_LIST
                    Push(new List<object?>());
                    break;
                case (byte)')': // EMPTY_TUPLE
                    Push(Array.Empty<object?>());
                    break;
                case 0x8f: // EMPTY_SET
                    Push(new List<object?>());
                    break;
                case (byte)'t': // TUPLE
                    Push(PopMark().ToArray());
                    break;
                case 0x85: // TUPLE1
                    Push(new[] { Pop() });
                    break;
                case 0x86: // TUPLE2
                {
                    object? b = Pop(), a = Pop();
                    Push(new[] { a, b });
                    break;
                }
                case 0x87: // TUPLE3
                {
                    object? c = Pop(), b = Pop(), a = Pop();
                    Push(new[] { a, b, c });
                    break;
                }
                case (byte)'l': // LIST
                    Push(PopMark());
                    break;
                case 0x91: // FROZENSET
                    Push(PopMark());
                    break;
                case (byte)'d': // DICT
                {
                    var items = PopMark();
                    var dict = new PickleDict();
                    SetItems(dict, items);
                    Push(dict);
                    break;
                }
                case (byte)'s': // SETITEM
                {
                    object? value = Pop(), key = Pop();
                    SetItems(Peek(), [key, value]);
                    break;
                }
                case (byte)'u': // SETITEMS
                {
                    var items = PopMark();
                    SetItems(Peek(), items);
                    break;
                }
                case (byte)'a': // APPEND
                {
                    object? value = Pop();
                    Append(Peek(), [value]);
                    break;
                }
                case (byte)'e': // APPENDS
                case 0x90: // ADDITEMS
                {
                    var items = PopMark();
                    Append(Peek(), items);
                    break;
                }
                case (byte)'q': // BINPUT
                    _memo[ReadByte()] = Peek();
                    break;
                case (byte)'r': // LONG_BINPUT
                    _memo[BinaryPrimitives.ReadUInt32LittleEndian(Take(4))] = Peek();
                    break;
                case 0x94: // MEMOIZE
                    _memo[_memo.Count] = Peek();
                    break;
                case (byte)'h': // BINGET
                    Push(Memo(ReadByte()));
                    break;
                case (byte)'j': // LONG_BINGET
                    Push(Memo(BinaryPrimitives.ReadUInt32LittleEndian(Take(4))));
                    break;
                case (byte)'c': // GLOBAL
                {
                    string module = ReadLine(), name = ReadLine();
                    Push(new PickleGlobal(module, name));
                    break;
                }
                case 0x93: // STACK_GLOBAL
                {
                    object? name = Pop(), module = Pop();
                    if (module is not string m || name is not string n)
                    {
                        throw Bad("STACK_GLOBAL needs two strings");
                    }
                    Push(new PickleGlobal(m, n));
                    break;
                }
                case (byte)'R': // REDUCE
                {
                    object? args = Pop(), callable = Pop();
                    if (args is not object?[] tuple)
                    {
                        throw Bad($"REDUCE arguments are {PyTorchCheckpoint.Describe(args)}, not a tuple");
                    }
                    Push(Call(callable, tuple));
                    break;
                }
                case 0x81: // NEWOBJ
                {
                    object? args = Pop(), cls = Pop();
                    if (args is not object?[] tuple)
                    {
                        throw Bad($"NEWOBJ arguments are {PyTorchCheckpoint.Describe(args)}, not a tuple");
                    }
                    Push(New(cls, tuple, null));
                    break;
                }
                case 0x92: // NEWOBJ_EX
                {
                    object? kwargs = Pop(), args = Pop(), cls = Pop();
                    if (args is not object?[] tuple || kwargs is not PickleDict kw)
                    {
                        throw Bad("NEWOBJ_EX needs a tuple and a dict");
                    }
                    Push(New(cls, tuple, kw));
                    break;
                }
                case (byte)'b': // BUILD
                {
                    object? state = Pop();
                    if (Peek() is PickleObject obj)
                    {
                        obj.State = state;
                    }
                    // BUILD on a dict (the _metadata PyTorch attaches to state dicts), a tensor
                    // or anything else the reader understands carries nothing it needs.
                    break;
                }
                case (byte)'Q': // BINPERSID
                    Push(persistentLoad(Pop()));
                    break;
                default:
                    string opName = OpcodeNames.TryGetValue(op, out var known) ? known : "unknown";
                    throw Bad($"unsupported pickle opcode {opName} (0x{op:x2})");
            }
        }
    }

    private object? Call(object? callable, object?[] args)
    {
        // _rebuild_from_type_v2(func, type, args, state) calls func(*args): unwrapped in a loop, since a pickle can
        // nest it 100,000 deep in a megabyte and recursion overflowed the stack (found while fuzzing the unpickler).
        for (int depth = 0; callable is PickleGlobal { Module: "torch._tensor", Name: "_rebuild_from_type_v2" } r; depth++)
        {
            if (args.Length < 3 || args[2] is not object?[] innerArgs)
            {
                throw Bad($"{r.FullName} is given malformed arguments");
            }
            if (depth == 16)
            {
                throw Bad($"{r.FullName} is nested more than 16 deep");
            }
            callable = args[0];
            args = innerArgs;
        }
        if (callable is not PickleGlobal g)
        {
            return new PickleObject(callable, args);
        }
        switch (g.FullName)
        {
            case "collections.OrderedDict":
            case "builtins.dict":
            case "__builtin__.dict":
            {
                var dict = new PickleDict(g.FullName == "collections.OrderedDict" ? g.FullName : "dict");
                if (args.Length > 0 && args[0] is List<object?> or object?[])
                {
                    foreach (var pair in (IEnumerable<object?>)args[0]!)
                    {
                        if (pair is not object?[] { Length: 2 } kv)
                        {
                            throw Bad($"{g.FullName} is given {PyTorchCheckpoint.Describe(pair)} instead of a (key, value) pair");
                        }
                        dict[kv[0]] = kv[1];
                    }
                }
                return dict;
            }
            case "torch._utils._rebuild_tensor_v2":
            case "torch._utils._rebuild_tensor":
                if (args.Length < 4)
                {
                    throw Bad($"{g.FullName} is given {args.Length} arguments, expected at least 4");
                }
                return PyTorchCheckpoint.RebuildTensor(args[0], args[1], args[2], args[3], path);
            case "torch._utils._rebuild_parameter":
            case "torch._utils._rebuild_parameter_with_state":
                if (args.Length < 1 || args[0] is not RawTensor parameter)
                {
                    throw Bad($"{g.FullName} needs a tensor but is given {(args.Length < 1 ? "nothing" : PyTorchCheckpoint.Describe(args[0]))}");
                }
                return parameter;
            case "torch.device":
                return string.Join(":", args.Select(a => Convert.ToString(a, CultureInfo.InvariantCulture)));
            case "torch.Size":
            case "builtins.tuple":
            case "__builtin__.tuple":
                return args.Length == 0 ? Array.Empty<object?>() : AsItems(args[0], g.FullName).ToArray();
            case "builtins.list":
            case "__builtin__.list":
            case "builtins.set":
            case "__builtin__.set":
            case "builtins.frozenset":
            case "__builtin__.frozenset":
                return args.Length == 0 ? new List<object?>() : AsItems(args[0], g.FullName);
            case "_codecs.encode":
                // Protocol 2 pickles bytes as _codecs.encode(text, 'latin1').
                if (args is [string text, "latin1" or "latin-1"])
                {
                    return Encoding.Latin1.GetBytes(text);
                }
                return new PickleObject(g, args);
            default:
                return new PickleObject(g, args);
        }
    }

    private List<object?> AsItems(object? value, string what) => value switch
    {
        List<object?> list => [.. list],
        object?[] tuple => [.. tuple],
        _ => throw Bad($"{what} is given {PyTorchCheckpoint.Describe(value)} instead of a sequence"),
    };

    private object? New(object? cls, object?[] args, PickleDict? kwargs)
    {
        if (cls is PickleGlobal { FullName: "collections.OrderedDict" or "builtins.dict" or "__builtin__.dict" } g)
        {
            return new PickleDict(g.FullName == "collections.OrderedDict" ? g.FullName : "dict");
        }
        return new PickleObject(cls, args) { KwArgs = kwargs };
    }

    private void SetItems(object? target, List<object?> items)
    {
        if (items.Count % 2 != 0)
        {
            throw Bad("SETITEMS with an odd number of items");
        }
        PickleDict dict = target switch
        {
            PickleDict d => d,
            PickleObject o => o.DictItems,
            _ => throw Bad($"cannot set items on {PyTorchCheckpoint.Describe(target)}"),
        };
        for (int i = 0; i < items.Count; i += 2)
        {
            dict[items[i]] = items[i + 1];
        }
    }

    private void Append(object? target, List<object?> items)
    {
        switch (target)
        {
            case List<object?> list:
                list.AddRange(items);
                break;
            case PickleObject o:
                o.ListItems.AddRange(items);
                break;
            default:
                throw Bad($"cannot append to {PyTorchCheckpoint.Describe(target)}");
        }
    }

    private void Push(object? value) => _stack.Add(value);

    private object? Pop()
    {
        int floor = _marks.Count > 0 ? _marks.Peek() : 0;
        if (_stack.Count <= floor)
        {
            throw Bad("stack underflow: the pickle is corrupt");
        }
        object? value = _stack[^1];
        _stack.RemoveAt(_stack.Count - 1);
        return value;
    }

    private object? Peek()
    {
        int floor = _marks.Count > 0 ? _marks.Peek() : 0;
        if (_stack.Count <= floor)
        {
            throw Bad("stack underflow: the pickle is corrupt");
        }
        return _stack[^1];
    }

    private List<object?> PopMark()
    {
        if (_marks.Count == 0)
        {
            throw Bad("an opcode needs a MARK but none is set: the pickle is corrupt");
        }
        int start = _marks.Pop();
        var items = _stack.GetRange(start, _stack.Count - start);
        _stack.RemoveRange(start, _stack.Count - start);
        return items;
    }

    private object? Memo(long key) =>
        _memo.TryGetValue(key, out object? value) ? value : throw Bad($"memo key {key} is read before it is written");

    private byte ReadByte()
    {
        if (_pos >= data.Length)
        {
            throw Bad("the pickle is truncated");
        }
        return data[_pos++];
    }

    private ReadOnlySpan<byte> Take(int count)
    {
        if (count < 0 || count > data.Length - _pos)
        {
            throw Bad($"the pickle is truncated: {count} bytes are needed but {data.Length - _pos} remain");
        }
        var span = data.AsSpan(_pos, count);
        _pos += count;
        return span;
    }

    /// <summary>Reads a little-endian length of 4 or 8 bytes and checks it against the bytes left.</summary>
    private int ReadLength(int width)
    {
        ulong length = width == 4 ? BinaryPrimitives.ReadUInt32LittleEndian(Take(4)) : BinaryPrimitives.ReadUInt64LittleEndian(Take(8));
        if (length > (ulong)(data.Length - _pos))
        {
            throw Bad($"the pickle is truncated: a {length}-byte value but {data.Length - _pos} bytes remain");
        }
        return (int)length;
    }

    private string ReadLine()
    {
        int end = Array.IndexOf(data, (byte)'\n', _pos);
        if (end < 0)
        {
            throw Bad("the pickle is truncated inside a GLOBAL");
        }
        string line = Encoding.UTF8.GetString(data, _pos, end - _pos);
        _pos = end + 1;
        return line;
    }

    private string Utf8(ReadOnlySpan<byte> bytes)
    {
        try
        {
            return new UTF8Encoding(false, throwOnInvalidBytes: true).GetString(bytes);
        }
        catch (DecoderFallbackException)
        {
            // Python writes surrogates with 'surrogatepass'; decode leniently rather than fail.
            return Encoding.UTF8.GetString(bytes);
        }
    }

    private static object ToInteger(ReadOnlySpan<byte> bytes)
    {
        if (bytes.Length == 0)
        {
            return 0L;
        }
        var value = new BigInteger(bytes, isUnsigned: false, isBigEndian: false);
        return value >= long.MinValue && value <= long.MaxValue ? (long)value : value;
    }
}
