namespace MLNet.Attention.Data;

/// <summary>
/// The shape of a schema before there is data (ML.NET's <c>SchemaShape</c>): column names, whether each is a scalar,
/// a vector of known size or of variable size, and the item type. Estimators check a pipeline with it.
/// </summary>
public sealed class SchemaShape : IReadOnlyList<SchemaShape.Column>
{
    private readonly Column[] _columns;

    /// <summary>Scalar, vector of known size, or vector of variable size.</summary>
    public enum VectorKind
    {
        /// <summary>One value (images included).</summary>
        Scalar,
        /// <summary>A vector whose size is known.</summary>
        Vector,
        /// <summary>A vector whose size varies.</summary>
        VariableVector,
    }

    /// <summary>One column's shape.</summary>
    /// <param name="Name">The name.</param>
    /// <param name="Kind">Scalar or vector.</param>
    /// <param name="ItemType">The type of the values (the element type for vectors); for keys, their raw type (<see cref="NumberDataViewType.UInt32"/>), as in ML.NET.</param>
    /// <param name="IsKey">True for a key column (<see cref="KeyDataViewType"/>).</param>
    /// <param name="Annotations">The shape of the column's annotations (ML.NET's form): <c>KeyValues</c> as a vector of the key values' type,
    /// <c>SlotNames</c> as a vector of text; null: none.</param>
    public readonly record struct Column(string Name, VectorKind Kind, DataViewType ItemType, bool IsKey = false, SchemaShape? Annotations = null)
    {
        /// <inheritdoc/>
        public override string ToString() => $"{Name}: {TypeText}";

        /// <summary>The name, kind and item type (the form before keys and annotations were added).</summary>
        public void Deconstruct(out string Name, out VectorKind Kind, out DataViewType ItemType)
        {
            Name = this.Name; Kind = this.Kind; ItemType = this.ItemType;
        }

        /// <summary>The type part of <see cref="ToString"/>, for messages.</summary>
        internal string TypeText
        {
            get
            {
                string item = IsKey ? $"Key<{ItemType}>" : ItemType.ToString()!;
                return Kind switch
                {
                    VectorKind.Scalar => item,
                    VectorKind.Vector => $"Vector<{item}>",
                    _ => $"Vector<{item}> (variable size)",
                };
            }
        }

        /// <summary>The type of the key values (the <c>KeyValues</c> annotation's item type) of a key column that has them, or null.</summary>
        internal DataViewType? KeyValueType => IsKey && Annotations is { } a && a.TryFindColumn(DataViewSchema.AnnotationKinds.KeyValues, out var kv) ? kv.ItemType : null;
    }

    /// <summary>A shape of the given columns (later ones with the same name replace earlier ones).</summary>
    public SchemaShape(IEnumerable<Column> columns)
    {
        ArgumentNullException.ThrowIfNull(columns);
        var byName = new Dictionary<string, int>(StringComparer.Ordinal);
        var list = new List<Column>();
        foreach (var c in columns)
        {
            if (byName.TryGetValue(c.Name, out int i)) list[i] = c;
            else
            {
                byName[c.Name] = list.Count;
                list.Add(c);
            }
        }
        _columns = list.ToArray();
    }

    /// <summary>The shape of <paramref name="schema"/>'s visible columns.</summary>
    public static SchemaShape Create(DataViewSchema schema)
    {
        ArgumentNullException.ThrowIfNull(schema);
        return new SchemaShape(schema.Where(c => !c.IsHidden).Select(c => Of(c.Name, c.Type, c.Annotations)));
    }

    internal static Column Of(string name, DataViewType type, DataViewSchema.Annotations? annotations = null)
    {
        var kind = type is VectorDataViewType v ? v.IsKnownSize ? VectorKind.Vector : VectorKind.VariableVector : VectorKind.Scalar;
        var item = type is VectorDataViewType vt ? vt.ItemType : type;
        bool isKey = item is KeyDataViewType;
        return new Column(name, kind, isKey ? NumberDataViewType.UInt32 : item, isKey, AnnotationShape(annotations));
    }

    /// <summary>The shape of a column's annotations: KeyValues (a vector of the key values' type) and SlotNames (text); null when neither.</summary>
    internal static SchemaShape? AnnotationShape(DataViewSchema.Annotations? annotations)
    {
        if (annotations is null) return null;
        var cols = new List<Column>();
        if (annotations.TryGetValue<string[]>(DataViewSchema.AnnotationKinds.KeyValues, out _))
        {
            var t = annotations.TryGetValue<PrimitiveDataViewType>(DataViewSchema.AnnotationKinds.KeyValueType, out var kt) ? kt : TextDataViewType.Instance;
            cols.Add(new Column(DataViewSchema.AnnotationKinds.KeyValues, VectorKind.Vector, t));
        }
        if (annotations.TryGetValue<string[]>(DataViewSchema.AnnotationKinds.SlotNames, out _))
            cols.Add(new Column(DataViewSchema.AnnotationKinds.SlotNames, VectorKind.Vector, TextDataViewType.Instance));
        return cols.Count == 0 ? null : new SchemaShape(cols);
    }

    /// <summary>Number of columns.</summary>
    public int Count => _columns.Length;

    /// <summary>The column at <paramref name="index"/>.</summary>
    public Column this[int index] => _columns[index];

    /// <summary>Finds a column by name.</summary>
    public bool TryFindColumn(string name, out Column column)
    {
        foreach (var c in _columns)
        {
            if (c.Name == name)
            {
                column = c;
                return true;
            }
        }
        column = default;
        return false;
    }

    /// <summary>The shape with <paramref name="added"/> columns (replacing those of the same name).</summary>
    internal SchemaShape With(params Column[] added) => new(_columns.Concat(added));

    /// <inheritdoc/>
    public IEnumerator<Column> GetEnumerator() => ((IEnumerable<Column>)_columns).GetEnumerator();

    System.Collections.IEnumerator System.Collections.IEnumerable.GetEnumerator() => _columns.GetEnumerator();

    /// <inheritdoc/>
    public override string ToString() => string.Join(", ", _columns);
}
