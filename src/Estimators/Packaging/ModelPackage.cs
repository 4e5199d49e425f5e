using System.Globalization;
using System.IO.Compression;
using System.Reflection;
using System.Security.Cryptography;
using System.Text;
using System.Text.Json;
using System.Text.Json.Nodes;
using MLNet.Attention.Data;

namespace MLNet.Attention.Packaging;

/// <summary>
/// A model as one <c>.zip</c>: <c>manifest.json</c> (format and package versions, the trained models' architecture,
/// hyperparameters and label names, the whole pipeline — every transform with its parameters — and the input
/// schema), the weights as safetensors, and <c>checksums.sha256</c> (SHA-256 of every other entry, in
/// <c>sha256sum</c>'s format; the manifest lists the weights' checksums too). Written atomically; read defensively:
/// a truncated or corrupt archive, an unexpected, oversized or path-escaping entry, a checksum mismatch or a newer
/// format version is an <see cref="InvalidDataException"/> naming the file and the reason.
/// </summary>
internal static class ModelPackage
{
    public const string Format = "MLNet.Attention.Model";
    public const int FormatVersion = 1;
    public const string ManifestEntry = "manifest.json";
    public const string ChecksumsEntry = "checksums.sha256";

    /// <summary>The largest manifest read (16 MiB).</summary>
    public const long MaxManifestBytes = 16L << 20;
    /// <summary>The largest weights entry read (8 GiB).</summary>
    public const long MaxWeightsBytes = 8L << 30;
    /// <summary>The most entries an archive may hold.</summary>
    public const int MaxEntries = 64;

    /// <summary>The package version written into manifests ("0.1.0").</summary>
    public static string PackageVersion
    {
        get
        {
            var v = typeof(ModelPackage).Assembly.GetCustomAttribute<AssemblyInformationalVersionAttribute>()?.InformationalVersion
                    ?? typeof(ModelPackage).Assembly.GetName().Version?.ToString() ?? "0";
            int plus = v.IndexOf('+', StringComparison.Ordinal);
            return plus < 0 ? v : v[..plus];
        }
    }

    // ------------------------------------------------------------------------------------------------ writing

    public static void Save(ITransformer model, DataViewSchema? inputSchema, string path)
    {
        ArgumentNullException.ThrowIfNull(model);
        ArgumentException.ThrowIfNullOrEmpty(path);
        string full = Path.GetFullPath(path);
        string dir = Path.GetDirectoryName(full) ?? ".";
        if (!Directory.Exists(dir)) throw new DirectoryNotFoundException($"cannot save the model to '{path}': folder '{dir}' does not exist");
        string temp = Path.Combine(dir, $".{Path.GetFileName(full)}.{Guid.NewGuid():N}.tmp");
        try
        {
            using (var stream = new FileStream(temp, FileMode.CreateNew, FileAccess.Write, FileShare.None, 1 << 16))
            {
                Save(model, inputSchema, stream);
                stream.Flush(flushToDisk: true);
            }
            File.Move(temp, full, overwrite: true);
        }
        catch
        {
            try { File.Delete(temp); }
            catch (IOException) { }
            catch (UnauthorizedAccessException) { }
            throw;
        }
    }

    public static void Save(ITransformer model, DataViewSchema? inputSchema, Stream stream)
    {
        ArgumentNullException.ThrowIfNull(model);
        ArgumentNullException.ThrowIfNull(stream);
        var ctx = new ModelSaveContext();
        var pipeline = ctx.SaveTransformer(model);
        var entries = ctx.Entries;
        var manifest = new JsonObject
        {
            ["format"] = Format,
            ["formatVersion"] = FormatVersion,
            ["packageVersion"] = PackageVersion,
            ["models"] = new JsonArray(ctx.Models.Select(m => (JsonNode)m).ToArray()),
            ["inputSchema"] = inputSchema is null ? null : ModelJson.WriteSchema(inputSchema),
            ["pipeline"] = pipeline,
            ["entries"] = new JsonObject(entries.Select(e => new KeyValuePair<string, JsonNode?>(e.Key, new JsonObject
            {
                ["sha256"] = Sha256(e.Value),
                ["size"] = e.Value.LongLength,
            }))),
        };
        var manifestBytes = Encoding.UTF8.GetBytes(manifest.ToJsonString(ModelJson.Options));
        var sums = new StringBuilder();
        sums.Append(CultureInfo.InvariantCulture, $"{Sha256(manifestBytes)}  {ManifestEntry}\n");
        foreach (var (name, data) in entries) sums.Append(CultureInfo.InvariantCulture, $"{Sha256(data)}  {name}\n");
        using var zip = new ZipArchive(stream, ZipArchiveMode.Create, leaveOpen: true);
        Write(zip, ManifestEntry, manifestBytes, CompressionLevel.Optimal);
        foreach (var (name, data) in entries) Write(zip, name, data, CompressionLevel.Fastest);
        Write(zip, ChecksumsEntry, Encoding.ASCII.GetBytes(sums.ToString()), CompressionLevel.Optimal);
    }

    private static void Write(ZipArchive zip, string name, byte[] data, CompressionLevel level)
    {
        var e = zip.CreateEntry(name, level);
        e.LastWriteTime = new DateTimeOffset(2000, 1, 1, 0, 0, 0, TimeSpan.Zero);
        using var s = e.Open();
        s.Write(data);
    }

    public static string Sha256(byte[] data) => Convert.ToHexStringLower(SHA256.HashData(data));

    // ------------------------------------------------------------------------------------------------ reading

    public static ITransformer Load(string path, MLContext environment, out DataViewSchema inputSchema)
    {
        ArgumentException.ThrowIfNullOrEmpty(path);
        if (!File.Exists(path)) throw new FileNotFoundException($"model file '{path}' does not exist", path);
        using var stream = new FileStream(path, FileMode.Open, FileAccess.Read, FileShare.Read, 1 << 16);
        return Load(stream, path, environment, out inputSchema);
    }

    public static ITransformer Load(Stream stream, string name, MLContext environment, out DataViewSchema inputSchema)
    {
        ArgumentNullException.ThrowIfNull(stream);
        InvalidDataException Error(string reason, Exception? inner = null) => new($"model file '{name}': {reason}", inner);
        ZipArchive zip;
        try
        {
            zip = new ZipArchive(stream, ZipArchiveMode.Read, leaveOpen: true);
        }
        catch (InvalidDataException e)
        {
            throw Error($"not a readable .zip archive (truncated or corrupt?): {e.Message}", e);
        }
        using (zip)
        {
            if (zip.Entries.Count > MaxEntries) throw Error($"{zip.Entries.Count} entries, more than a model holds ({MaxEntries} at most)");
            var data = new Dictionary<string, byte[]>(StringComparer.Ordinal);
            foreach (var e in zip.Entries)
            {
                string n = e.FullName;
                if (!IsSafeEntryName(n)) throw Error($"entry name '{n}' points outside the archive's folder (zip-slip); refusing to read it");
                if (data.ContainsKey(n)) throw Error($"entry '{n}' appears twice");
                bool weights = n.EndsWith(".safetensors", StringComparison.Ordinal);
                if (n != ManifestEntry && n != ChecksumsEntry && !weights)
                    throw Error($"unexpected entry '{n}' (a model holds {ManifestEntry}, {ChecksumsEntry} and *.safetensors)");
                long limit = weights ? MaxWeightsBytes : MaxManifestBytes;
                if (e.Length > limit) throw Error($"entry '{n}' holds {e.Length} bytes, above the limit of {limit} for this entry");
                data[n] = ReadBounded(e, limit, Error);
            }
            if (!data.TryGetValue(ChecksumsEntry, out var sumsBytes)) throw Error($"no {ChecksumsEntry} entry: not a model file, or damaged");
            if (!data.TryGetValue(ManifestEntry, out var manifestBytes)) throw Error($"no {ManifestEntry} entry: not a model file, or damaged");
            VerifyChecksums(sumsBytes, data, Error);

            JsonObject manifest;
            try
            {
                manifest = JsonNode.Parse(manifestBytes)?.AsObject() ?? throw new JsonException("null manifest");
            }
            catch (Exception e) when (e is JsonException or InvalidOperationException)
            {
                throw Error($"{ManifestEntry} is not valid JSON: {e.Message}", e);
            }
            var ctx = new ModelLoadContext(environment, name, data);
            string format = ctx.Read(() => manifest["format"]?.GetValue<string>(), "the format") ?? "";
            if (format != Format) throw Error($"format '{format}' is not '{Format}': not a model written by this library");
            int version = ctx.Read(() => manifest["formatVersion"]?.GetValue<int>(), "the format version") ?? throw Error("the manifest has no formatVersion");
            string writer = ctx.Read(() => manifest["packageVersion"]?.GetValue<string>(), "the package version") ?? "unknown";
            if (version > FormatVersion)
                throw Error($"format version {version} (written by MLNet.Attention {writer}) is newer than this MLNet.Attention {PackageVersion} reads (up to {FormatVersion}); upgrade the package to load it");
            if (version < 1) throw Error($"format version {version} is not valid");
            var listed = ctx.Read(() => manifest["entries"]?.AsObject(), "the entries") ?? throw Error("the manifest has no 'entries'");
            foreach (var (entry, info) in listed)
            {
                if (!data.TryGetValue(entry, out var bytes)) throw Error($"the manifest lists entry '{entry}', which the archive does not hold");
                string sha = ctx.Read(() => info?["sha256"]?.GetValue<string>(), $"the checksum of '{entry}'") ?? throw Error($"the manifest has no checksum for '{entry}'");
                if (!string.Equals(sha, Sha256(bytes), StringComparison.OrdinalIgnoreCase))
                    throw Error($"checksum mismatch for '{entry}': the archive was modified or damaged after it was saved");
            }
            inputSchema = manifest["inputSchema"] is JsonArray schema ? ctx.Read(() => ModelJson.ReadSchema(schema), "the input schema") : new DataViewSchema.Builder().ToSchema();
            return ctx.LoadTransformer(manifest["pipeline"]);
        }
    }

    /// <summary>A plain relative name: no folders, no "..", no drive or root, no backslashes.</summary>
    internal static bool IsSafeEntryName(string name) =>
        name.Length > 0 && !name.Contains('/') && !name.Contains('\\') && !name.Contains(':') && name != "." && name != ".." && !Path.IsPathRooted(name)
        && name.IndexOfAny(Path.GetInvalidFileNameChars()) < 0;

    private static byte[] ReadBounded(ZipArchiveEntry e, long limit, Func<string, Exception?, InvalidDataException> error)
    {
        try
        {
            using var s = e.Open();
            using var ms = new MemoryStream((int)Math.Min(e.Length, 1 << 26));
            var buf = new byte[1 << 16];
            int n;
            while ((n = s.Read(buf)) > 0)
            {
                if (ms.Length + n > limit || ms.Length + n > e.Length) throw error($"entry '{e.FullName}' inflates to more bytes than its header declares ({e.Length}), or above the limit of {limit}", null);
                ms.Write(buf, 0, n);
            }
            if (ms.Length != e.Length) throw error($"entry '{e.FullName}' holds {ms.Length} bytes, its header declares {e.Length} (truncated)", null);
            return ms.ToArray();
        }
        catch (InvalidDataException e2) when (!e2.Message.StartsWith("model file", StringComparison.Ordinal))
        {
            throw error($"entry '{e.FullName}' is corrupt: {e2.Message}", e2);
        }
        catch (IOException e2)
        {
            throw error($"entry '{e.FullName}' cannot be read (truncated?): {e2.Message}", e2);
        }
    }

    private static void VerifyChecksums(byte[] sumsBytes, Dictionary<string, byte[]> data, Func<string, Exception?, InvalidDataException> error)
    {
        var sums = new Dictionary<string, string>(StringComparer.Ordinal);
        foreach (var raw in Encoding.ASCII.GetString(sumsBytes).Split('\n'))
        {
            var line = raw.TrimEnd('\r');
            if (line.Length == 0) continue;
            int sp = line.IndexOf(' ', StringComparison.Ordinal);
            if (sp != 64 || line.Length < 67) throw error($"{ChecksumsEntry} has a malformed line: \"{line}\"", null);
            sums[line[66..].TrimStart('*')] = line[..64];
        }
        foreach (var (name, bytes) in data)
        {
            if (name == ChecksumsEntry) continue;
            if (!sums.TryGetValue(name, out var sha)) throw error($"entry '{name}' has no checksum in {ChecksumsEntry}", null);
            if (!string.Equals(sha, Sha256(bytes), StringComparison.OrdinalIgnoreCase))
                throw error($"checksum mismatch for '{name}': the archive was modified or damaged after it was saved", null);
        }
        foreach (var name in sums.Keys)
            if (!data.ContainsKey(name)) throw error($"{ChecksumsEntry} lists '{name}', which the archive does not hold", null);
    }
}
