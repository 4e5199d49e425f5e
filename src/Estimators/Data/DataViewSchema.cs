using System.Collections;

namespace MLNet.Attention.Data;

/// <summary>
/// The columns of an <see cref="IDataView"/> (ML.NET's <c>DataViewSchema</c>): name, index, type and annotations. A
/// transform that writes a column under an existing name hides the older one (<see cref="Column.IsHidden"/>); looking
/// a name up finds the newest.
/// </summary>
public sealed class DataViewSchema : IReadOnlyList<DataViewSchema.Column>
{
    private readonly Column[] _columns;
    private readonly Dictionary<string, int> _byName;

    /// <summary>One column.</summary>
    public readonly struct Column
    {
        /// <summary>The name.</summary>
        public string Name { get; }
        /// <summary>Position in the schema.</summary>
        public int Index { get; }
        /// <summary>True when a later column has the same name.</summary>
        public bool IsHidden { get; }
        /// <summary>The type.</summary>
        public DataViewType Type { get; }
        /// <summary>Extra information (e.g. <c>SlotNames</c>: the class names of a score vector).</summary>
        public Annotations Annotations { get; }

        internal Column(string name, int index, bool isHidden, DataViewType type, Annotations annotations)
        {
            Name = name; Index = index; IsHidden = isHidden; Type = type; Annotations = annotations;
        }

        /// <inheritdoc/>
        public override string ToString() => $"{Name} ({Index}): {Type}{(IsHidden ? " (hidden)" : "")}";
    }

    /// <summary>Named values attached to a column (ML.NET's <c>DataViewSchema.Annotations</c>).</summary>
    public sealed class Annotations
    {
        private readonly Dictionary<string, object> _values;

        /// <summary>No annotations.</summary>
        public static Annotations Empty { get; } = new(new Dictionary<string, object>());

        internal Annotations(Dictionary<string, object> values) => _values = values;

        /// <summary>The annotation kinds present.</summary>
        public IEnumerable<string> Kinds => _values.Keys;

        /// <summary>The value of annotation <paramref name="kind"/>, when present and of type <typeparamref name="T"/>.</summary>
        public bool TryGetValue<T>(string kind, out T value)
        {
            if (_values.TryGetValue(kind, out var v) && v is T t) { value = t; return true; }
            value = default!;
            return false;
        }

        /// <summary>The value of annotation <paramref name="kind"/> (ML.NET's <c>GetValue</c>).</summary>
        /// <exception cref="InvalidOperationException">Absent or of another type.</exception>
        public void GetValue<T>(string kind, ref T value)
        {
            if (!_values.TryGetValue(kind, out var v)) throw new InvalidOperationException($"no annotation '{kind}' (present: {string.Join(", ", _values.Keys)})");
            value = Conversions.Convert<T>(v, $"annotation '{kind}'");
        }
    }

    /// <summary>Well-known annotation kinds (ML.NET's <c>AnnotationUtils.Kinds</c>).</summary>
    public static class AnnotationKinds
    {
        /// <summary>Names of the elements of a vector column (the class names of <c>Score</c>), a <c>string[]</c>.</summary>
        public const string SlotNames = "SlotNames";
        /// <summary>The original values of a key column (<see cref="KeyDataViewType"/>) in key order — key k is value k − 1 —
        /// or of a predicted label; a <c>string[]</c> (numbers in invariant culture, round-trip form).</summary>
        public const string KeyValues = "KeyValues";
        /// <summary>The type of the original values in <see cref="KeyValues"/> (a <see cref="PrimitiveDataViewType"/>: text, a
        /// number or boolean): what <c>MapKeyToValue</c> restores. Not in ML.NET, whose key values are a typed vector; here
        /// annotations are text, so the type travels beside them.</summary>
        public const string KeyValueType = "KeyValueType";
    }

    /// <summary>Builds a schema column by column (ML.NET's <c>DataViewSchema.Builder</c>).</summary>
    public sealed class Builder
    {
        private readonly List<(string Name, DataViewType Type, Dictionary<string, object> Annotations)> _columns = new();

        /// <summary>Adds a column.</summary>
        public Builder AddColumn(string name, DataViewType type, IReadOnlyDictionary<string, object>? annotations = null)
        {
            ArgumentException.ThrowIfNullOrEmpty(name);
            ArgumentNullException.ThrowIfNull(type);
            _columns.Add((name, type, annotations is null ? new() : new Dictionary<string, object>(annotations)));
            return this;
        }

        /// <summary>Adds every column of <paramref name="schema"/> (hidden ones too).</summary>
        public Builder AddColumns(DataViewSchema schema)
        {
            ArgumentNullException.ThrowIfNull(schema);
            foreach (var c in schema) _columns.Add((c.Name, c.Type, c.Annotations.Copy()));
            return this;
        }

        /// <summary>The schema.</summary>
        public DataViewSchema ToSchema() => new(_columns);
    }

    private DataViewSchema(List<(string Name, DataViewType Type, Dictionary<string, object> Annotations)> columns)
    {
        _byName = new Dictionary<string, int>(StringComparer.Ordinal);
        for (int i = 0; i < columns.Count; i++) _byName[columns[i].Name] = i;
        _columns = new Column[columns.Count];
        for (int i = 0; i < columns.Count; i++)
            _columns[i] = new Column(columns[i].Name, i, _byName[columns[i].Name] != i, columns[i].Type, new Annotations(columns[i].Annotations));
    }

    /// <summary>Number of columns (hidden ones included).</summary>
    public int Count => _columns.Length;

    /// <summary>The column at <paramref name="columnIndex"/>.</summary>
    public Column this[int columnIndex] => _columns[columnIndex];

    /// <summary>The visible column named <paramref name="name"/>.</summary>
    /// <exception cref="ArgumentOutOfRangeException">No such column; the message lists the columns.</exception>
    public Column this[string name] => GetColumnOrNull(name) ?? throw new ArgumentOutOfRangeException(nameof(name), $"no column '{name}' in the schema ({Describe()})");

    /// <summary>The visible column named <paramref name="name"/>, or null.</summary>
    public Column? GetColumnOrNull(string name) => name is not null && _byName.TryGetValue(name, out int i) ? _columns[i] : null;

    /// <inheritdoc/>
    public IEnumerator<Column> GetEnumerator() => ((IEnumerable<Column>)_columns).GetEnumerator();

    IEnumerator IEnumerable.GetEnumerator() => _columns.GetEnumerator();

    /// <summary>"Name: Type" of every visible column, for error messages.</summary>
    public string Describe() => _columns.Length == 0 ? "no columns" : string.Join(", ", _columns.Where(c => !c.IsHidden).Select(c => $"{c.Name}: {c.Type}"));

    /// <inheritdoc/>
    public override string ToString() => $"DataViewSchema({Describe()})";
}

/// <summary>Annotation helpers.</summary>
public static class AnnotationExtensions
{
    /// <summary>The slot names of a vector column (e.g. the class names of <c>Score</c>), or null.</summary>
    public static IReadOnlyList<string>? GetSlotNames(this DataViewSchema.Column column) =>
        column.Annotations.TryGetValue<string[]>(DataViewSchema.AnnotationKinds.SlotNames, out var names) ? names : null;

    /// <summary>ML.NET's form: the slot names as a vector of text.</summary>
    /// <exception cref="InvalidOperationException">The column has no slot names.</exception>
    public static void GetSlotNames(this DataViewSchema.Column column, ref VBuffer<ReadOnlyMemory<char>> slotNames)
    {
        var names = column.GetSlotNames() ?? throw new InvalidOperationException($"column '{column.Name}' has no slot names");
        slotNames = new VBuffer<ReadOnlyMemory<char>>(names.Select(n => n.AsMemory()).ToArray());
    }

    /// <summary>The key values of a key column (the original values as text, in key order), or null.</summary>
    public static IReadOnlyList<string>? GetKeyValues(this DataViewSchema.Column column) =>
        column.Annotations.TryGetValue<string[]>(DataViewSchema.AnnotationKinds.KeyValues, out var values) ? values : null;

    /// <summary>ML.NET's form: the key values as a vector of text.</summary>
    /// <exception cref="InvalidOperationException">The column has no key values.</exception>
    public static void GetKeyValues(this DataViewSchema.Column column, ref VBuffer<ReadOnlyMemory<char>> keyValues)
    {
        var values = column.GetKeyValues() ?? throw new InvalidOperationException($"column '{column.Name}' has no key values");
        keyValues = new VBuffer<ReadOnlyMemory<char>>(values.Select(n => n.AsMemory()).ToArray());
    }

    internal static Dictionary<string, object> Copy(this DataViewSchema.Annotations a)
    {
        var d = new Dictionary<string, object>();
        foreach (var k in a.Kinds)
            if (a.TryGetValue<object>(k, out var v)) d[k] = v;
        return d;
    }
}
