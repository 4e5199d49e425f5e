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
    /// <param name="ItemType">The type of the values (the element type for vectors).</param>
    public readonly record struct Column(string Name, VectorKind Kind, DataViewType ItemType)
    {
        /// <inheritdoc/>
        public override string ToString() => Kind switch
        {
            VectorKind.Scalar => $"{Name}: {ItemType}",
            VectorKind.Vector => $"{Name}: Vector<{ItemType}>",
            _ => $"{Name}: Vector<{ItemType}> (variable size)",
        };
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
        return new SchemaShape(schema.Where(c => !c.IsHidden).Select(c => Of(c.Name, c.Type)));
    }

    internal static Column Of(string name, DataViewType type) => type is VectorDataViewType v
        ? new Column(name, v.IsKnownSize ? VectorKind.Vector : VectorKind.VariableVector, v.ItemType)
        : new Column(name, VectorKind.Scalar, type);

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
