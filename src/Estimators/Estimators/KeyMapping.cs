using System.Globalization;
using System.Text.Json.Nodes;
using MLNet.Attention.Data;
using MLNet.Attention.Packaging;

namespace MLNet.Attention.Estimators;

/// <summary>
/// Learns a dictionary of the values of one column and maps the column to keys (ML.NET's
/// <c>ValueToKeyMappingEstimator</c>, made by <c>ml.Transforms.Conversion.MapValueToKey</c>): a scalar text, boolean or
/// number column becomes a <see cref="KeyDataViewType"/> column, value → its key (1..Count), a value not in the
/// dictionary (or missing: null or empty text, NaN) → 0. The dictionary rides in the output column's
/// <c>KeyValues</c> annotation (text) with the values' type in <c>KeyValueType</c>, so that <c>MapKeyToValue</c> and
/// the trainers (class names) can use it.
/// </summary>
public sealed class ValueToKeyMappingEstimator : IEstimator<ValueToKeyMappingTransformer>
{
    private const string Source = "MapValueToKey";
    private readonly int _maximumNumberOfKeys;
    private readonly KeyOrdinality _keyOrdinality;
    private readonly bool _addKeyValueAnnotationsAsText;
    private readonly IDataView? _keyData;

    /// <summary>The order of the keys (ML.NET's <c>ValueToKeyMappingEstimator.KeyOrdinality</c>).</summary>
    public enum KeyOrdinality : byte
    {
        /// <summary>In the order the values are first seen (key 1: the first value of the data).</summary>
        ByOccurrence = 0,
        /// <summary>Sorted by value: ordinal order for text, numeric order for numbers, false before true.</summary>
        ByValue = 1,
    }

    internal ValueToKeyMappingEstimator(string outputColumnName, string? inputColumnName, int maximumNumberOfKeys, KeyOrdinality keyOrdinality,
        bool addKeyValueAnnotationsAsText, IDataView? keyData)
    {
        ArgumentException.ThrowIfNullOrEmpty(outputColumnName);
        if (inputColumnName is not null) ArgumentException.ThrowIfNullOrEmpty(inputColumnName);
        if (maximumNumberOfKeys < 1) throw new ArgumentOutOfRangeException(nameof(maximumNumberOfKeys), maximumNumberOfKeys, $"{Source}: maximumNumberOfKeys must be >= 1");
        if (!Enum.IsDefined(keyOrdinality)) throw new ArgumentOutOfRangeException(nameof(keyOrdinality), keyOrdinality, $"{Source}: not a KeyOrdinality");
        OutputColumnName = outputColumnName;
        InputColumnName = inputColumnName ?? outputColumnName;
        _maximumNumberOfKeys = maximumNumberOfKeys;
        _keyOrdinality = keyOrdinality;
        _addKeyValueAnnotationsAsText = addKeyValueAnnotationsAsText;
        _keyData = keyData;
        if (keyData is not null) KeyDataColumn(keyData);
    }

    /// <summary>The key column written.</summary>
    public string OutputColumnName { get; }

    /// <summary>The value column read.</summary>
    public string InputColumnName { get; }

    /// <summary>Reads the dictionary (from <c>keyData</c> when given, else the distinct values of the input column) and returns the transformer.</summary>
    /// <exception cref="ArgumentOutOfRangeException">The input column is missing or of a type that has no keys.</exception>
    /// <exception cref="InvalidOperationException">More distinct values than <c>maximumNumberOfKeys</c>, or none at all.</exception>
    public ValueToKeyMappingTransformer Fit(IDataView input)
    {
        ArgumentNullException.ThrowIfNull(input);
        var col = KeyValueCodec.CheckValueColumn(input.Schema, InputColumnName, Source);
        var valueType = (PrimitiveDataViewType)col.Type;
        var values = new List<object>();
        var seen = new HashSet<object>();
        string where;
        if (_keyData is null)
        {
            where = $"column '{InputColumnName}'";
            using var cursor = input.GetRowCursor(col);
            var get = RowAccess.Boxed(cursor, col);
            while (cursor.MoveNext()) Add(KeyValueCodec.Normalize(get()), where);
        }
        else
        {
            var kcol = KeyDataColumn(_keyData);
            where = $"keyData column '{kcol.Name}'";
            bool parse = !kcol.Type.Equals(valueType);
            if (parse && kcol.Type is not TextDataViewType)
                throw new ArgumentOutOfRangeException(nameof(input),
                    $"{Source}: {where} is {kcol.Type}, but column '{InputColumnName}' is {valueType}; keyData must hold the same type, or text to parse");
            using var cursor = _keyData.GetRowCursor(kcol);
            var get = RowAccess.Boxed(cursor, kcol);
            while (cursor.MoveNext())
            {
                var v = KeyValueCodec.Normalize(get());
                if (v is not null && parse)
                {
                    try
                    {
                        v = KeyValueCodec.Normalize(KeyValueCodec.Parse((string)v, valueType));
                    }
                    catch (FormatException e)
                    {
                        throw new InvalidOperationException($"{Source}: {where}, row {cursor.Position}: '{v}' is not a {valueType} value for column '{InputColumnName}': {e.Message}", e);
                    }
                }
                Add(v, where);
            }
        }
        if (values.Count == 0)
            throw new InvalidOperationException($"{Source}: {where} holds no value to make a key of (no rows, or every value is missing)");
        if (_keyOrdinality == KeyOrdinality.ByValue) values.Sort(KeyValueCodec.Compare);
        return new ValueToKeyMappingTransformer(OutputColumnName, InputColumnName, valueType,
            _addKeyValueAnnotationsAsText ? TextDataViewType.Instance : valueType, values.ToArray());

        void Add(object? v, string where)
        {
            if (v is null || !seen.Add(v)) return;
            if (values.Count == _maximumNumberOfKeys)
                throw new InvalidOperationException(
                    $"{Source}: {where} holds more than {_maximumNumberOfKeys} distinct values (maximumNumberOfKeys {_maximumNumberOfKeys}); raise maximumNumberOfKeys or map fewer values");
            values.Add(v);
        }
    }

    private static DataViewSchema.Column KeyDataColumn(IDataView keyData)
    {
        var cols = keyData.Schema.Where(c => !c.IsHidden).ToArray();
        if (cols.Length != 1)
            throw new ArgumentException($"{Source}: keyData must be a view of one column (the key values), but it has {cols.Length} ({keyData.Schema.Describe()})", nameof(keyData));
        if (!KeyValueCodec.IsValueType(cols[0].Type))
            throw new ArgumentException($"{Source}: keyData column '{cols[0].Name}' is {cols[0].Type}; it must hold text, booleans or numbers", nameof(keyData));
        return cols[0];
    }

    /// <inheritdoc/>
    public SchemaShape GetOutputSchema(SchemaShape inputSchema)
    {
        ArgumentNullException.ThrowIfNull(inputSchema);
        if (!inputSchema.TryFindColumn(InputColumnName, out var col))
            throw new ArgumentOutOfRangeException(nameof(inputSchema), $"{Source}: input column '{InputColumnName}' not found (columns: {inputSchema})");
        if (col.Kind != SchemaShape.VectorKind.Scalar || col.IsKey || !KeyValueCodec.IsValueType(col.ItemType))
            throw new ArgumentOutOfRangeException(nameof(inputSchema), $"{Source}: column '{InputColumnName}' is {col.TypeText}; {KeyValueCodec.Expected}");
        var keyValues = new SchemaShape(new[]
        {
            new SchemaShape.Column(DataViewSchema.AnnotationKinds.KeyValues, SchemaShape.VectorKind.Vector, _addKeyValueAnnotationsAsText ? TextDataViewType.Instance : col.ItemType),
        });
        return inputSchema.With(new SchemaShape.Column(OutputColumnName, SchemaShape.VectorKind.Scalar, NumberDataViewType.UInt32, true, keyValues));
    }

    /// <inheritdoc/>
    public override string ToString() => $"{Source}({OutputColumnName} <- {InputColumnName}, {_keyOrdinality})";
}

/// <summary>
/// A fitted <see cref="ValueToKeyMappingEstimator"/>: maps its input column to keys of its dictionary lazily, row by
/// row; a value not in the dictionary (or missing) is key 0. Saved with the model (the dictionary in the manifest).
/// </summary>
public sealed class ValueToKeyMappingTransformer : ITransformer, ISavableTransformer
{
    internal const string Kind = "ValueToKeyMapping";
    private const string Source = "MapValueToKey";
    private readonly object[] _values;
    private readonly string[] _texts;
    private readonly Dictionary<object, uint> _keys;

    internal ValueToKeyMappingTransformer(string outputColumnName, string inputColumnName, PrimitiveDataViewType valueType, PrimitiveDataViewType keyValueType, object[] values)
    {
        if (!KeyValueCodec.IsValueType(valueType)) throw new ArgumentException($"{Source}: values of {valueType} have no keys");
        if (!keyValueType.Equals(valueType) && keyValueType is not TextDataViewType) throw new ArgumentException($"{Source}: the key values are {valueType} or text, not {keyValueType}");
        if (values.Length == 0) throw new ArgumentException($"{Source}: the dictionary is empty");
        OutputColumnName = outputColumnName; InputColumnName = inputColumnName; ValueType = valueType; KeyValueType = keyValueType;
        _values = values;
        _keys = new Dictionary<object, uint>(values.Length);
        for (int i = 0; i < values.Length; i++)
        {
            if (KeyValueCodec.Normalize(values[i]) is null) throw new ArgumentException($"{Source}: key value {i + 1} is missing (empty or NaN)");
            if (!_keys.TryAdd(values[i], (uint)(i + 1))) throw new ArgumentException($"{Source}: the value '{KeyValueCodec.Format(values[i])}' appears twice in the dictionary");
        }
        _texts = values.Select(KeyValueCodec.Format).ToArray();
        KeyType = new KeyDataViewType(typeof(uint), (ulong)values.Length);
    }

    /// <summary>The key column written.</summary>
    public string OutputColumnName { get; }

    /// <summary>The value column read.</summary>
    public string InputColumnName { get; }

    /// <summary>The type of the values read.</summary>
    public PrimitiveDataViewType ValueType { get; }

    /// <summary>The type <c>MapKeyToValue</c> gives back: <see cref="ValueType"/>, or text with <c>addKeyValueAnnotationsAsText</c>.</summary>
    public PrimitiveDataViewType KeyValueType { get; }

    /// <summary>The type of the key column written.</summary>
    public KeyDataViewType KeyType { get; }

    /// <summary>The dictionary as text, in key order (key k is <c>KeyValues[k − 1]</c>).</summary>
    public IReadOnlyList<string> KeyValues => _texts;

    /// <inheritdoc/>
    public bool IsRowToRowMapper => true;

    private IReadOnlyDictionary<string, object> Annotations => new Dictionary<string, object>
    {
        [DataViewSchema.AnnotationKinds.KeyValues] = _texts.ToArray(),
        [DataViewSchema.AnnotationKinds.KeyValueType] = KeyValueType,
    };

    private DataViewSchema.Column Bind(DataViewSchema schema)
    {
        var col = schema.GetColumnOrNull(InputColumnName)
            ?? throw new ArgumentOutOfRangeException(nameof(schema), $"{Source}: input column '{InputColumnName}' not found (columns: {schema.Describe()})");
        if (!col.Type.Equals(ValueType))
            throw new ArgumentOutOfRangeException(nameof(schema), $"{Source}: column '{InputColumnName}' is {col.Type}, but the keys were learned from {ValueType} values");
        return col;
    }

    /// <inheritdoc/>
    public DataViewSchema GetOutputSchema(DataViewSchema inputSchema)
    {
        ArgumentNullException.ThrowIfNull(inputSchema);
        Bind(inputSchema);
        return new DataViewSchema.Builder().AddColumns(inputSchema).AddColumn(OutputColumnName, KeyType, Annotations).ToSchema();
    }

    /// <inheritdoc/>
    public IDataView Transform(IDataView input)
    {
        ArgumentNullException.ThrowIfNull(input);
        return new MappedDataView(input, new Mapper(this, Bind(input.Schema)));
    }

    /// <summary>The key of <paramref name="value"/> (0: not in the dictionary, or missing).</summary>
    internal uint KeyOf(object? value) => KeyValueCodec.Normalize(value) is { } v && _keys.TryGetValue(v, out uint k) ? k : 0;

    /// <inheritdoc/>
    public override string ToString() => $"{Source}({OutputColumnName} <- {InputColumnName}, {_values.Length} keys)";

    JsonObject ISavableTransformer.Save(ModelSaveContext context) => new()
    {
        ["kind"] = Kind,
        ["outputColumnName"] = OutputColumnName,
        ["inputColumnName"] = InputColumnName,
        ["valueType"] = ValueType.ToString(),
        ["keyValueType"] = KeyValueType.ToString(),
        ["values"] = new JsonArray(_texts.Select(t => (JsonNode)t).ToArray()),
    };

    internal static ValueToKeyMappingTransformer Load(JsonObject json, ModelLoadContext context)
    {
        string output = context.String(json, "outputColumnName"), input = context.String(json, "inputColumnName");
        if (output.Length == 0 || input.Length == 0) throw context.Error($"{Kind}: a column name is empty");
        var valueType = context.Read(() => ModelJson.ReadType(new JsonObject { ["type"] = context.String(json, "valueType") }), $"{Kind}'s value type");
        var keyValueType = context.Read(() => ModelJson.ReadType(new JsonObject { ["type"] = context.String(json, "keyValueType") }), $"{Kind}'s key value type");
        if (!KeyValueCodec.IsValueType(valueType)) throw context.Error($"{Kind} of column '{input}': value type {valueType} has no keys");
        var texts = context.Read(() => json["values"]!.AsArray().Select(v => v!.GetValue<string>()).ToArray(), $"{Kind}'s values of column '{input}'");
        var values = new object[texts.Length];
        for (int i = 0; i < texts.Length; i++)
        {
            try
            {
                values[i] = KeyValueCodec.Parse(texts[i], (PrimitiveDataViewType)valueType);
            }
            catch (FormatException e)
            {
                throw context.Error($"{Kind} of column '{input}': value {i + 1} '{texts[i]}' is not a {valueType}: {e.Message}", e);
            }
        }
        return context.Read(() => new ValueToKeyMappingTransformer(output, input, (PrimitiveDataViewType)valueType, (PrimitiveDataViewType)keyValueType, values), $"{Kind} of column '{input}'");
    }

    private sealed class Mapper : ColumnMapper
    {
        private readonly ValueToKeyMappingTransformer _t;
        private readonly DataViewSchema.Column _input;

        public Mapper(ValueToKeyMappingTransformer t, DataViewSchema.Column input)
        {
            _t = t; _input = input;
        }

        public override IReadOnlyList<(string Name, DataViewType Type, IReadOnlyDictionary<string, object>? Annotations)> OutputColumns =>
            new[] { (_t.OutputColumnName, (DataViewType)_t.KeyType, (IReadOnlyDictionary<string, object>?)_t.Annotations) };

        public override IEnumerable<DataViewSchema.Column> Dependencies(IReadOnlyList<int> activeOutputs) =>
            activeOutputs.Count > 0 ? new[] { _input } : Array.Empty<DataViewSchema.Column>();

        public override Func<object?> MakeGetter(int output, DataViewRow input)
        {
            var get = RowAccess.Boxed(input, _input);
            return () => _t.KeyOf(get());
        }
    }
}

/// <summary>
/// Maps a key column back to its original values (ML.NET's <c>KeyToValueMappingEstimator</c>, made by
/// <c>ml.Transforms.Conversion.MapKeyToValue</c>), e.g. a trainer's key <c>PredictedLabel</c> back to the label text.
/// The values come from the input column's <c>KeyValues</c> annotation; nothing is learned.
/// </summary>
public sealed class KeyToValueMappingEstimator : IEstimator<KeyToValueMappingTransformer>
{
    private readonly KeyToValueMappingTransformer _transformer;

    internal KeyToValueMappingEstimator(string outputColumnName, string? inputColumnName) =>
        _transformer = new KeyToValueMappingTransformer(outputColumnName, inputColumnName ?? outputColumnName);

    /// <summary>The value column written.</summary>
    public string OutputColumnName => _transformer.OutputColumnName;

    /// <summary>The key column read.</summary>
    public string InputColumnName => _transformer.InputColumnName;

    /// <summary>Checks the input column and returns the transformer.</summary>
    public KeyToValueMappingTransformer Fit(IDataView input)
    {
        ArgumentNullException.ThrowIfNull(input);
        _transformer.GetOutputSchema(input.Schema);
        return _transformer;
    }

    /// <inheritdoc/>
    public SchemaShape GetOutputSchema(SchemaShape inputSchema)
    {
        ArgumentNullException.ThrowIfNull(inputSchema);
        const string source = KeyToValueMappingTransformer.Source;
        if (!inputSchema.TryFindColumn(InputColumnName, out var col))
            throw new ArgumentOutOfRangeException(nameof(inputSchema), $"{source}: input column '{InputColumnName}' not found (columns: {inputSchema})");
        if (!col.IsKey || col.Kind != SchemaShape.VectorKind.Scalar)
            throw new ArgumentOutOfRangeException(nameof(inputSchema), $"{source}: column '{InputColumnName}' is {col.TypeText}, not a key column; make it with MapValueToKey, or train on a key label");
        var valueType = col.KeyValueType
            ?? throw new ArgumentOutOfRangeException(nameof(inputSchema), $"{source}: key column '{InputColumnName}' has no key values (KeyValues annotation) to map back to");
        return inputSchema.With(new SchemaShape.Column(OutputColumnName, SchemaShape.VectorKind.Scalar, valueType));
    }

    /// <inheritdoc/>
    public override string ToString() => _transformer.ToString();
}

/// <summary>
/// A fitted <see cref="KeyToValueMappingEstimator"/>: key k → the k-th key value of the input column's <c>KeyValues</c>,
/// in the type of its <c>KeyValueType</c> (text when absent). Key 0 (missing) → the type's missing value: empty text,
/// NaN for floats, 0 for integers, false for booleans (ML.NET gives empty text and NaN as well).
/// </summary>
public sealed class KeyToValueMappingTransformer : ITransformer, ISavableTransformer
{
    internal const string Kind = "KeyToValueMapping";
    internal const string Source = "MapKeyToValue";

    internal KeyToValueMappingTransformer(string outputColumnName, string inputColumnName)
    {
        ArgumentException.ThrowIfNullOrEmpty(outputColumnName);
        ArgumentException.ThrowIfNullOrEmpty(inputColumnName);
        OutputColumnName = outputColumnName; InputColumnName = inputColumnName;
    }

    /// <summary>The value column written.</summary>
    public string OutputColumnName { get; }

    /// <summary>The key column read.</summary>
    public string InputColumnName { get; }

    /// <inheritdoc/>
    public bool IsRowToRowMapper => true;

    private (DataViewSchema.Column Input, PrimitiveDataViewType Type, object[] Values) Bind(DataViewSchema schema)
    {
        var col = schema.GetColumnOrNull(InputColumnName)
            ?? throw new ArgumentOutOfRangeException(nameof(schema), $"{Source}: input column '{InputColumnName}' not found (columns: {schema.Describe()})");
        if (col.Type is not KeyDataViewType key)
            throw new ArgumentOutOfRangeException(nameof(schema), $"{Source}: column '{InputColumnName}' is {col.Type}, not a key column; make it with MapValueToKey, or train on a key label");
        var texts = col.GetKeyValues()
            ?? throw new ArgumentOutOfRangeException(nameof(schema), $"{Source}: key column '{InputColumnName}' has no key values (KeyValues annotation) to map back to");
        if ((ulong)texts.Count != key.Count)
            throw new ArgumentOutOfRangeException(nameof(schema), $"{Source}: key column '{InputColumnName}' is {key} but has {texts.Count} key values");
        var type = col.Annotations.TryGetValue<PrimitiveDataViewType>(DataViewSchema.AnnotationKinds.KeyValueType, out var t) ? t : TextDataViewType.Instance;
        if (!KeyValueCodec.IsValueType(type))
            throw new ArgumentOutOfRangeException(nameof(schema), $"{Source}: key column '{InputColumnName}' has key values of {type}, which is not a value type");
        var values = new object[texts.Count];
        for (int i = 0; i < values.Length; i++)
        {
            try
            {
                values[i] = KeyValueCodec.Parse(texts[i], type);
            }
            catch (FormatException e)
            {
                throw new ArgumentOutOfRangeException(nameof(schema), $"{Source}: key column '{InputColumnName}': key value {i + 1} '{texts[i]}' is not a {type}: {e.Message}");
            }
        }
        return (col, type, values);
    }

    /// <inheritdoc/>
    public DataViewSchema GetOutputSchema(DataViewSchema inputSchema)
    {
        ArgumentNullException.ThrowIfNull(inputSchema);
        var (_, type, _) = Bind(inputSchema);
        return new DataViewSchema.Builder().AddColumns(inputSchema).AddColumn(OutputColumnName, type).ToSchema();
    }

    /// <inheritdoc/>
    public IDataView Transform(IDataView input)
    {
        ArgumentNullException.ThrowIfNull(input);
        var (col, type, values) = Bind(input.Schema);
        return new MappedDataView(input, new Mapper(this, col, type, values));
    }

    /// <inheritdoc/>
    public override string ToString() => $"{Source}({OutputColumnName} <- {InputColumnName})";

    JsonObject ISavableTransformer.Save(ModelSaveContext context) => new()
    {
        ["kind"] = Kind,
        ["outputColumnName"] = OutputColumnName,
        ["inputColumnName"] = InputColumnName,
    };

    internal static KeyToValueMappingTransformer Load(JsonObject json, ModelLoadContext context)
    {
        string output = context.String(json, "outputColumnName"), input = context.String(json, "inputColumnName");
        if (output.Length == 0 || input.Length == 0) throw context.Error($"{Kind}: a column name is empty");
        return new KeyToValueMappingTransformer(output, input);
    }

    private sealed class Mapper : ColumnMapper
    {
        private readonly KeyToValueMappingTransformer _t;
        private readonly DataViewSchema.Column _input;
        private readonly PrimitiveDataViewType _type;
        private readonly object[] _values;
        private readonly object _missing;

        public Mapper(KeyToValueMappingTransformer t, DataViewSchema.Column input, PrimitiveDataViewType type, object[] values)
        {
            _t = t; _input = input; _type = type; _values = values;
            _missing = KeyValueCodec.Missing(type);
        }

        public override IReadOnlyList<(string Name, DataViewType Type, IReadOnlyDictionary<string, object>? Annotations)> OutputColumns =>
            new[] { (_t.OutputColumnName, (DataViewType)_type, (IReadOnlyDictionary<string, object>?)null) };

        public override IEnumerable<DataViewSchema.Column> Dependencies(IReadOnlyList<int> activeOutputs) =>
            activeOutputs.Count > 0 ? new[] { _input } : Array.Empty<DataViewSchema.Column>();

        public override Func<object?> MakeGetter(int output, DataViewRow input)
        {
            var get = RowAccess.Boxed(input, _input);
            string name = _input.Name;
            return () =>
            {
                uint key = get() is uint k ? k : throw new InvalidOperationException($"{Source}: key column '{name}' holds no key (null) in row {input.Position}");
                if (key == 0) return _missing;
                if (key > (uint)_values.Length)
                    throw new InvalidOperationException($"{Source}: key column '{name}' holds key {key} in row {input.Position}, beyond its {_values.Length} key values");
                return _values[key - 1];
            };
        }
    }
}

/// <summary>The values that have keys (text, booleans, numbers): normalising, ordering, text form and parsing.</summary>
internal static class KeyValueCodec
{
    public const string Expected = "MapValueToKey maps a scalar column of text, booleans or numbers (String, Boolean, Single, Double, Int32, Int64, UInt32, Byte)";

    /// <summary>True for the types MapValueToKey reads (not keys, vectors or images).</summary>
    public static bool IsValueType(DataViewType type) => type is TextDataViewType or BooleanDataViewType or NumberDataViewType;

    /// <summary>The input column, checked to exist and be of a value type.</summary>
    public static DataViewSchema.Column CheckValueColumn(DataViewSchema schema, string name, string source)
    {
        var col = schema.GetColumnOrNull(name)
            ?? throw new ArgumentOutOfRangeException(nameof(schema), $"{source}: input column '{name}' not found (columns: {schema.Describe()})");
        if (!IsValueType(col.Type))
            throw new ArgumentOutOfRangeException(nameof(schema), $"{source}: column '{name}' is {col.Type}; {Expected}");
        return col;
    }

    /// <summary>A value as the dictionary holds it (text as string), or null when it is missing (null or empty text, NaN).</summary>
    public static object? Normalize(object? value) => value switch
    {
        null => null,
        string s => s.Length == 0 ? null : s,
        ReadOnlyMemory<char> m => m.Length == 0 ? null : m.ToString(),
        float f when float.IsNaN(f) => null,
        double d when double.IsNaN(d) => null,
        _ => value,
    };

    /// <summary>Ordinal for text, numeric for numbers, false before true.</summary>
    public static int Compare(object a, object b) => a is string sa ? string.CompareOrdinal(sa, (string)b) : ((IComparable)a).CompareTo(b);

    /// <summary>The text form (invariant culture; shortest round-trip form for floats).</summary>
    public static string Format(object value) => value switch
    {
        string s => s,
        IFormattable f => f.ToString(null, CultureInfo.InvariantCulture),
        _ => value.ToString()!,
    };

    /// <summary>A value of <paramref name="type"/> from its text form.</summary>
    /// <exception cref="FormatException">Not a value of the type.</exception>
    public static object Parse(string text, PrimitiveDataViewType type)
    {
        var c = CultureInfo.InvariantCulture;
        try
        {
            return type switch
            {
                TextDataViewType => text,
                BooleanDataViewType => bool.Parse(text),
                _ when type == NumberDataViewType.Single => float.Parse(text, NumberStyles.Float, c),
                _ when type == NumberDataViewType.Double => double.Parse(text, NumberStyles.Float, c),
                _ when type == NumberDataViewType.Int32 => int.Parse(text, NumberStyles.Integer, c),
                _ when type == NumberDataViewType.Int64 => long.Parse(text, NumberStyles.Integer, c),
                _ when type == NumberDataViewType.UInt32 => uint.Parse(text, NumberStyles.Integer, c),
                _ when type == NumberDataViewType.Byte => byte.Parse(text, NumberStyles.Integer, c),
                _ => throw new FormatException($"{type} values have no text form here"),
            };
        }
        catch (OverflowException e)
        {
            throw new FormatException($"'{text}' is out of the range of {type}", e);
        }
    }

    /// <summary>What a missing key maps back to: empty text, NaN, 0 or false.</summary>
    public static object Missing(PrimitiveDataViewType type) => type switch
    {
        TextDataViewType => "",
        BooleanDataViewType => false,
        _ when type == NumberDataViewType.Single => float.NaN,
        _ when type == NumberDataViewType.Double => double.NaN,
        _ => Convert.ChangeType(0, type.RawType, CultureInfo.InvariantCulture),
    };
}
