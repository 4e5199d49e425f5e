using System.Globalization;
using System.Text;

namespace MLNet.Attention.Data;

/// <summary>The first rows of a view, read eagerly for inspection in a debugger or a notebook (ML.NET's <c>DataDebuggerPreview</c>).</summary>
public sealed class DataDebuggerPreview
{
    internal DataDebuggerPreview(IDataView data, int maxRows)
    {
        Schema = data.Schema;
        var cols = Schema.Where(c => !c.IsHidden).ToArray();
        var rows = new List<object?[]>();
        using (var cursor = data.GetRowCursor(cols))
        {
            var getters = cols.Select(c => RowAccess.Boxed(cursor, c)).ToArray();
            while (rows.Count < maxRows && cursor.MoveNext()) rows.Add(getters.Select(g => g()).ToArray());
        }
        RowView = rows.Select(r => new RowInfo(cols.Select((c, i) => new KeyValuePair<string, object?>(c.Name, r[i])).ToArray())).ToArray();
        ColumnView = cols.Select((c, i) => new ColumnInfo(c, rows.Select(r => r[i]).ToArray())).ToArray();
    }

    /// <summary>The view's schema.</summary>
    public DataViewSchema Schema { get; }

    /// <summary>The values by column.</summary>
    public IReadOnlyList<ColumnInfo> ColumnView { get; }

    /// <summary>The values by row.</summary>
    public IReadOnlyList<RowInfo> RowView { get; }

    /// <summary>One column's values.</summary>
    /// <param name="Column">The column.</param>
    /// <param name="Values">Its values in the previewed rows.</param>
    public sealed record ColumnInfo(DataViewSchema.Column Column, IReadOnlyList<object?> Values);

    /// <summary>One row's values.</summary>
    /// <param name="Values">(column name, value) pairs.</param>
    public sealed record RowInfo(IReadOnlyList<KeyValuePair<string, object?>> Values)
    {
        /// <inheritdoc/>
        public override string ToString() => string.Join(" | ", Values.Select(v => $"{v.Key}: {Format(v.Value)}"));
    }

    internal static string Format(object? v) => v switch
    {
        null => "null",
        string s => s,
        float[] a => $"[{string.Join(", ", a.Take(8).Select(x => x.ToString("G4", CultureInfo.InvariantCulture)))}{(a.Length > 8 ? $", ... ({a.Length})" : "")}]",
        Array a => $"{a.GetType().GetElementType()!.Name}[{a.Length}]",
        IFormattable f => f.ToString(null, CultureInfo.InvariantCulture),
        _ => v.ToString() ?? "",
    };

    /// <inheritdoc/>
    public override string ToString()
    {
        var sb = new StringBuilder();
        sb.AppendLine(CultureInfo.InvariantCulture, $"{ColumnView.Count} columns, {RowView.Count} rows: {Schema.Describe()}");
        foreach (var r in RowView) sb.AppendLine(r.ToString());
        return sb.ToString();
    }
}

/// <summary>Helpers on views (ML.NET's <c>DebuggerExtensions</c> and <c>ColumnCursorExtensions</c>).</summary>
public static class DataViewExtensions
{
    /// <summary>The first <paramref name="maxRows"/> rows, read now.</summary>
    public static DataDebuggerPreview Preview(this IDataView data, int maxRows = 100)
    {
        ArgumentNullException.ThrowIfNull(data);
        if (maxRows < 0) throw new ArgumentOutOfRangeException(nameof(maxRows), maxRows, "must be >= 0");
        return new DataDebuggerPreview(data, maxRows);
    }

    /// <summary>A cursor computing <paramref name="columnsNeeded"/>.</summary>
    public static DataViewRowCursor GetRowCursor(this IDataView data, params DataViewSchema.Column[] columnsNeeded)
    {
        ArgumentNullException.ThrowIfNull(data);
        return data.GetRowCursor((IEnumerable<DataViewSchema.Column>)columnsNeeded);
    }

    /// <summary>A cursor computing every column.</summary>
    public static DataViewRowCursor GetRowCursorForAllColumns(this IDataView data)
    {
        ArgumentNullException.ThrowIfNull(data);
        return data.GetRowCursor(data.Schema);
    }

    /// <summary>The values of one column, lazily (ML.NET's <c>GetColumn</c>).</summary>
    public static IEnumerable<T> GetColumn<T>(this IDataView data, string columnName)
    {
        ArgumentNullException.ThrowIfNull(data);
        var col = data.Schema[columnName];
        if (!Conversions.CanDeliver(col.Type, typeof(T)))
            throw new InvalidOperationException($"column '{columnName}' holds {col.Type}; it cannot be read as {Conversions.TypeName(typeof(T))} (read it as {Conversions.TypeName(col.Type.RawType)})");
        return Read();

        IEnumerable<T> Read()
        {
            using var cursor = data.GetRowCursor(col);
            var getter = cursor.GetGetter<T>(col);
            while (cursor.MoveNext())
            {
                T v = default!;
                getter(ref v);
                yield return v;
            }
        }
    }
}
