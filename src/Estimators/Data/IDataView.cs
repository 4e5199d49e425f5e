namespace MLNet.Attention.Data;

/// <summary>
/// A lazily evaluated table (ML.NET's <c>IDataView</c>): a <see cref="Schema"/> and row cursors. Nothing is computed
/// until a cursor moves, and a cursor computes only the columns it was asked for. Views are immutable; transforms
/// wrap them in new views.
/// </summary>
public interface IDataView
{
    /// <summary>The columns.</summary>
    DataViewSchema Schema { get; }

    /// <summary>Whether a cursor can visit the rows in random order (false here: every cursor is sequential).</summary>
    bool CanShuffle { get; }

    /// <summary>The number of rows, when known without a pass.</summary>
    long? GetRowCount();

    /// <summary>A cursor over the rows computing <paramref name="columnsNeeded"/>.</summary>
    DataViewRowCursor GetRowCursor(IEnumerable<DataViewSchema.Column> columnsNeeded, Random? rand = null);
}

/// <summary>Reads one value of a row into <paramref name="value"/> (ML.NET's <c>ValueGetter</c>).</summary>
public delegate void ValueGetter<TValue>(ref TValue value);

/// <summary>One row (ML.NET's <c>DataViewRow</c>): getters of its active columns.</summary>
public abstract class DataViewRow : IDisposable
{
    /// <summary>The row's position (-1 before the first <see cref="DataViewRowCursor.MoveNext"/>).</summary>
    public abstract long Position { get; }

    /// <summary>The batch of the row (0: cursors here are never split).</summary>
    public virtual long Batch => 0;

    /// <summary>The columns.</summary>
    public abstract DataViewSchema Schema { get; }

    /// <summary>Whether <paramref name="column"/> was asked for when the cursor was made.</summary>
    public abstract bool IsColumnActive(DataViewSchema.Column column);

    /// <summary>A getter of <paramref name="column"/>; <typeparamref name="TValue"/> must be the column's
    /// <see cref="DataViewType.RawType"/> (or, for text, <see cref="ReadOnlyMemory{T}"/>; for vectors, <see cref="VBuffer{T}"/>).</summary>
    public abstract ValueGetter<TValue> GetGetter<TValue>(DataViewSchema.Column column);

    /// <summary>Releases the cursor.</summary>
    public void Dispose()
    {
        Dispose(true);
        GC.SuppressFinalize(this);
    }

    /// <summary>Releases resources.</summary>
    protected virtual void Dispose(bool disposing) { }
}

/// <summary>A row that moves forward through a view (ML.NET's <c>DataViewRowCursor</c>).</summary>
public abstract class DataViewRowCursor : DataViewRow
{
    /// <summary>Moves to the next row; false at the end.</summary>
    public abstract bool MoveNext();
}

/// <summary>
/// The base of every cursor here: values are produced (boxed) per column by <see cref="GetValue"/> and delivered by
/// typed getters; asking for an inactive column or the wrong type is an error naming the column.
/// </summary>
internal abstract class RowCursor : DataViewRowCursor
{
    private readonly bool[] _active;
    private long _position = -1;
    private bool _done;

    protected RowCursor(DataViewSchema schema, IEnumerable<DataViewSchema.Column> active)
    {
        Schema = schema;
        _active = new bool[schema.Count];
        foreach (var c in active) _active[Check(c)] = true;
    }

    public sealed override DataViewSchema Schema { get; }

    public sealed override long Position => _position;

    protected bool[] Active => _active;

    public sealed override bool IsColumnActive(DataViewSchema.Column column) => _active[Check(column)];

    public sealed override bool MoveNext()
    {
        if (_done) return false;
        if (!Advance())
        {
            _done = true;
            return false;
        }
        _position++;
        return true;
    }

    /// <summary>Moves the underlying source one row on.</summary>
    protected abstract bool Advance();

    /// <summary>The value of column <paramref name="col"/> in the current row (boxed; arrays are not reused between rows).</summary>
    protected abstract object? GetValue(int col);

    /// <summary>The value of an active column of the current row.</summary>
    internal object? Value(int col)
    {
        if (!_active[col]) throw new InvalidOperationException($"column '{Schema[col].Name}' is not active in this cursor: ask for it when making the cursor");
        if (_position < 0) throw new InvalidOperationException("the cursor is before its first row: call MoveNext first");
        if (_done) throw new InvalidOperationException("the cursor is past its last row");
        return GetValue(col);
    }

    private int Check(DataViewSchema.Column column)
    {
        if ((uint)column.Index >= (uint)Schema.Count || Schema[column.Index].Name != column.Name)
            throw new ArgumentException($"column '{column.Name}' (index {column.Index}) does not belong to this cursor's schema ({Schema.Describe()})", nameof(column));
        return column.Index;
    }

    public sealed override ValueGetter<TValue> GetGetter<TValue>(DataViewSchema.Column column)
    {
        int col = Check(column);
        var type = Schema[col].Type;
        if (!Conversions.CanDeliver(type, typeof(TValue)))
            throw new InvalidOperationException($"column '{column.Name}' holds {type}; it cannot be read as {Conversions.TypeName(typeof(TValue))} (read it as {Conversions.TypeName(type.RawType)})");
        if (!_active[col]) throw new InvalidOperationException($"column '{column.Name}' is not active in this cursor: ask for it when making the cursor");
        string what = $"column '{column.Name}'";
        return (ref TValue value) => value = Conversions.Convert<TValue>(Value(col), what);
    }
}

/// <summary>Conversions between the boxed values cursors produce and the types getters deliver.</summary>
internal static class Conversions
{
    public static bool CanDeliver(DataViewType type, Type target)
    {
        if (target == typeof(object) || target == type.RawType) return true;
        if (type is TextDataViewType) return target == typeof(ReadOnlyMemory<char>);
        if (type is VectorDataViewType v) return target == typeof(VBuffer<>).MakeGenericType(v.ItemType.RawType);
        return false;
    }

    public static T Convert<T>(object? value, string what)
    {
        if (value is T t) return t;
        if (typeof(T) == typeof(ReadOnlyMemory<char>) && value is string s) return (T)(object)s.AsMemory();
        if (typeof(T) == typeof(string) && value is ReadOnlyMemory<char> m) return (T)(object)m.ToString();
        if (value is Array a && typeof(T).IsGenericType && typeof(T).GetGenericTypeDefinition() == typeof(VBuffer<>) && typeof(T).GetGenericArguments()[0] == a.GetType().GetElementType())
            return (T)Activator.CreateInstance(typeof(T), a)!;
        if (value is null && !typeof(T).IsValueType) return default!;
        throw new InvalidCastException($"{what}: a {(value is null ? "null" : TypeName(value.GetType()))} value cannot be read as {TypeName(typeof(T))}");
    }

    public static string TypeName(Type t) =>
        t.IsArray ? TypeName(t.GetElementType()!) + "[]"
        : t.IsGenericType ? $"{t.Name[..t.Name.IndexOf('`', StringComparison.Ordinal)]}<{string.Join(", ", t.GetGenericArguments().Select(TypeName))}>"
        : t.Name;
}

/// <summary>Reads boxed values from any row: directly from the cursors here, through a typed getter from others.</summary>
internal static class RowAccess
{
    public static Func<object?> Boxed(DataViewRow row, DataViewSchema.Column column)
    {
        if (row is RowCursor rc)
        {
            int i = column.Index;
            return () => rc.Value(i);
        }
        var method = typeof(RowAccess).GetMethod(nameof(Typed), System.Reflection.BindingFlags.NonPublic | System.Reflection.BindingFlags.Static)!
            .MakeGenericMethod(column.Type.RawType);
        return (Func<object?>)method.Invoke(null, new object[] { row, column })!;
    }

    private static Func<object?> Typed<T>(DataViewRow row, DataViewSchema.Column column)
    {
        var getter = row.GetGetter<T>(column);
        return () =>
        {
            T v = default!;
            getter(ref v);
            return v;
        };
    }
}
