using System.Text.Json;
using System.Text.Json.Nodes;
using System.Text.Json.Serialization;
using MLNet.Attention.Data;
using MLNet.Attention.Estimators;

namespace MLNet.Attention.Packaging;

/// <summary>A transformer that can describe itself in a model's manifest (and add binary entries such as weights).</summary>
internal interface ISavableTransformer
{
    /// <summary>The transformer as JSON, with a <c>"kind"</c> naming its loader.</summary>
    JsonObject Save(ModelSaveContext context);
}

/// <summary>JSON settings of the manifest: camelCase names, enums as their names, indented.</summary>
internal static class ModelJson
{
    public static JsonSerializerOptions Options { get; } = new()
    {
        PropertyNamingPolicy = JsonNamingPolicy.CamelCase,
        WriteIndented = true,
        Converters = { new JsonStringEnumConverter() },
        NumberHandling = JsonNumberHandling.AllowNamedFloatingPointLiterals,
    };

    /// <summary>A column type as JSON.</summary>
    public static JsonObject WriteType(DataViewType type) => type switch
    {
        VectorDataViewType v => new JsonObject { ["type"] = "Vector", ["itemType"] = v.ItemType.ToString(), ["dimensions"] = new JsonArray(v.Dimensions.Select(d => (JsonNode)d).ToArray()) },
        ImageDataViewType i => new JsonObject { ["type"] = "Image", ["height"] = i.Height, ["width"] = i.Width, ["channels"] = i.Channels },
        _ => new JsonObject { ["type"] = type.ToString() },
    };

    /// <summary>A column type from JSON.</summary>
    public static DataViewType ReadType(JsonObject json)
    {
        string kind = json["type"]?.GetValue<string>() ?? throw new JsonException("a column type has no 'type'");
        return kind switch
        {
            "Vector" => new VectorDataViewType(Primitive(json["itemType"]?.GetValue<string>()), json["dimensions"]?.AsArray().Select(d => d!.GetValue<int>()).ToArray() ?? Array.Empty<int>()),
            "Image" => new ImageDataViewType(json["height"]?.GetValue<int>() ?? 0, json["width"]?.GetValue<int>() ?? 0, json["channels"]?.GetValue<int>() ?? 0),
            _ => Primitive(kind),
        };
    }

    private static PrimitiveDataViewType Primitive(string? name) => (PrimitiveDataViewType?)KeyDataViewType.TryParse(name) ?? name switch
    {
        "String" => TextDataViewType.Instance,
        "Boolean" => BooleanDataViewType.Instance,
        "Single" => NumberDataViewType.Single,
        "Double" => NumberDataViewType.Double,
        "Int32" => NumberDataViewType.Int32,
        "Int64" => NumberDataViewType.Int64,
        "UInt32" => NumberDataViewType.UInt32,
        "Byte" => NumberDataViewType.Byte,
        _ => throw new JsonException($"unknown column type '{name}'"),
    };

    /// <summary>A schema's visible columns as JSON.</summary>
    public static JsonArray WriteSchema(DataViewSchema schema) =>
        new(schema.Where(c => !c.IsHidden).Select(c =>
        {
            var o = WriteType(c.Type);
            o.Insert(0, "name", c.Name);
            return (JsonNode)o;
        }).ToArray());

    /// <summary>A schema from JSON.</summary>
    public static DataViewSchema ReadSchema(JsonArray json)
    {
        var b = new DataViewSchema.Builder();
        foreach (var c in json)
        {
            var o = c?.AsObject() ?? throw new JsonException("a schema column is null");
            b.AddColumn(o["name"]?.GetValue<string>() ?? throw new JsonException("a schema column has no name"), ReadType(o));
        }
        return b.ToSchema();
    }
}

/// <summary>Collects a model's manifest parts and binary entries while its transformers describe themselves.</summary>
internal sealed class ModelSaveContext
{
    private readonly Dictionary<string, byte[]> _entries = new(StringComparer.Ordinal);

    /// <summary>Binary entries (name → bytes), in the order added.</summary>
    public IReadOnlyList<KeyValuePair<string, byte[]>> Entries => _entries.ToList();

    /// <summary>Summaries of the trained models (architecture, hyperparameters, labels) for the manifest's top level.</summary>
    public List<JsonObject> Models { get; } = new();

    /// <summary>A free entry name: <paramref name="stem"/>.<paramref name="extension"/>, then <paramref name="stem"/>_1..., and adds the entry.</summary>
    public string AddEntry(string stem, string extension, byte[] data)
    {
        string name = $"{stem}.{extension}";
        for (int i = 1; _entries.ContainsKey(name); i++) name = $"{stem}_{i}.{extension}";
        _entries[name] = data;
        return name;
    }

    /// <summary>Describes <paramref name="transformer"/>.</summary>
    /// <exception cref="NotSupportedException">It cannot be saved.</exception>
    public JsonObject SaveTransformer(ITransformer transformer) => transformer is ISavableTransformer s
        ? s.Save(this)
        : throw new NotSupportedException($"a {transformer.GetType().Name} cannot be saved in a model file (only the transformers of this library can)");

    /// <summary>Describes a chain.</summary>
    public JsonObject SaveChain(IEnumerable<ITransformer> transformers) => new()
    {
        ["kind"] = "Chain",
        ["transformers"] = new JsonArray(transformers.Select(t => (JsonNode)SaveTransformer(t)).ToArray()),
    };
}

/// <summary>Reads transformers back from a model's manifest and its verified entries; every problem is an
/// <see cref="InvalidDataException"/> naming the model file and the reason.</summary>
internal sealed class ModelLoadContext
{
    private readonly IReadOnlyDictionary<string, byte[]> _entries;

    public ModelLoadContext(MLContext environment, string file, IReadOnlyDictionary<string, byte[]> entries)
    {
        Environment = environment; File = file; _entries = entries;
    }

    /// <summary>The context the loaded transformers belong to.</summary>
    public MLContext Environment { get; }

    /// <summary>The model file, for messages.</summary>
    public string File { get; }

    /// <summary>An error about the model file.</summary>
    public InvalidDataException Error(string reason, Exception? inner = null) => new($"model file '{File}': {reason}", inner);

    /// <summary>The bytes of entry <paramref name="name"/> (checksum verified).</summary>
    public byte[] Entry(string name) => _entries.TryGetValue(name, out var b) ? b : throw Error($"the manifest refers to entry '{name}', which the archive does not hold");

    /// <summary>A required string property.</summary>
    public string String(JsonObject json, string key) => Read(() => json[key]?.GetValue<string>(), key) ?? throw Error($"the manifest lacks '{key}'");

    /// <summary>Runs <paramref name="read"/>, turning JSON errors into an error naming <paramref name="what"/>.</summary>
    public T Read<T>(Func<T> read, string what)
    {
        try
        {
            return read();
        }
        catch (Exception e) when (e is JsonException or InvalidOperationException or FormatException or NotSupportedException or ArgumentException)
        {
            throw Error($"cannot read {what}: {e.Message}", e);
        }
    }

    /// <summary>Rebuilds a transformer from its description.</summary>
    public ITransformer LoadTransformer(JsonNode? node)
    {
        var json = node as JsonObject ?? throw Error("a transformer description is not a JSON object");
        string kind = String(json, "kind");
        return kind switch
        {
            "Chain" => new TransformerChain<ITransformer>(Read(() => json["transformers"]!.AsArray(), "the chain").Select(LoadTransformer).ToArray()),
            ImageTransformer.Kind => ImageTransformer.Load(json, this),
            AttentionBackboneTransformer.Kind => AttentionBackboneTransformer.Load(json, this),
            ValueToKeyMappingTransformer.Kind => ValueToKeyMappingTransformer.Load(json, this),
            KeyToValueMappingTransformer.Kind => KeyToValueMappingTransformer.Load(json, this),
            _ => throw Error($"unknown transformer kind '{kind}' (written by a newer version?)"),
        };
    }
}
