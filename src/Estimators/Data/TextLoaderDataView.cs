using System.Globalization;
using MLNet.Attention.Transforms;
namespace MLNet.Attention.Data;

/// <summary>
/// A delimited text file read into the members of <typeparamref name="T"/> by their <see cref="LoadColumnAttribute"/>
/// (ML.NET's <c>LoadFromTextFile&lt;T&gt;</c>). The file is read again by every cursor, line by line; a field that does
/// not parse is an <see cref="InvalidDataException"/> naming the file, line and column.
/// </summary>
internal sealed class TextLoaderDataView<T> : IDataView where T : class, new()
{
    private readonly string _path;
    private readonly char _separator;
    private readonly bool _hasHeader;
    private readonly TypedMembers _members;

    public TextLoaderDataView(string path, char separator, bool hasHeader)
    {
        ArgumentException.ThrowIfNullOrEmpty(path);
        if (!File.Exists(path)) throw new FileNotFoundException($"text file '{path}' does not exist", path);
        _path = path; _separator = separator; _hasHeader = hasHeader;
        _members = TypedMembers.For(typeof(T));
        foreach (var m in _members.Members)
        {
            if (m.LoadColumns is null)
                throw new InvalidOperationException($"{typeof(T).Name}.{m.Info.Name} has no [LoadColumn(index)]: say which field of the file it is read from (or mark it [NoColumn])");
            if (m.ColumnType is ImageDataViewType) throw new InvalidOperationException($"{typeof(T).Name}.{m.Info.Name}: images cannot be read from a text file; read the path and use LoadImages");
            if (m.ColumnType is PrimitiveDataViewType && m.LoadColumns.Count != 1)
                throw new InvalidOperationException($"{typeof(T).Name}.{m.Info.Name} is a scalar but reads {m.LoadColumns.Count} fields; make it an array");
        }
        var b = new DataViewSchema.Builder();
        foreach (var m in _members.Members)
            b.AddColumn(m.ColumnName, m.ColumnType is VectorDataViewType v && !v.IsKnownSize ? new VectorDataViewType(v.ItemType, m.LoadColumns!.Count) : m.ColumnType);
        Schema = b.ToSchema();
    }

    public DataViewSchema Schema { get; }

    public bool CanShuffle => false;

    public long? GetRowCount() => null;

    public DataViewRowCursor GetRowCursor(IEnumerable<DataViewSchema.Column> columnsNeeded, Random? rand = null) => new Cursor(this, columnsNeeded);

    private static object Parse(string text, Type type, string where)
    {
        var t = text.Trim();
        try
        {
            if (type == typeof(string)) return text;
            if (type == typeof(float)) return t.Length == 0 ? float.NaN : float.Parse(t, NumberStyles.Float, CultureInfo.InvariantCulture);
            if (type == typeof(double)) return t.Length == 0 ? double.NaN : double.Parse(t, NumberStyles.Float, CultureInfo.InvariantCulture);
            if (type == typeof(int)) return int.Parse(t, NumberStyles.Integer, CultureInfo.InvariantCulture);
            if (type == typeof(long)) return long.Parse(t, NumberStyles.Integer, CultureInfo.InvariantCulture);
            if (type == typeof(uint)) return uint.Parse(t, NumberStyles.Integer, CultureInfo.InvariantCulture);
            if (type == typeof(byte)) return byte.Parse(t, NumberStyles.Integer, CultureInfo.InvariantCulture);
            if (type == typeof(bool)) return t is "1" || bool.Parse(t);
        }
        catch (Exception e) when (e is FormatException or OverflowException)
        {
            throw new InvalidDataException($"{where}: '{text}' is not a {Conversions.TypeName(type)}", e);
        }
        throw new NotSupportedException($"{where}: {Conversions.TypeName(type)} fields are not supported");
    }

    private sealed class Cursor : RowCursor
    {
        private readonly TextLoaderDataView<T> _view;
        private readonly StreamReader _reader;
        private List<string>? _fields;
        private int _line;

        public Cursor(TextLoaderDataView<T> view, IEnumerable<DataViewSchema.Column> active) : base(view.Schema, active)
        {
            _view = view;
            _reader = new StreamReader(view._path);
        }

        protected override bool Advance()
        {
            while (true)
            {
                var line = _reader.ReadLine();
                if (line is null) return false;
                _line++;
                if (_line == 1 && _view._hasHeader) continue;
                if (string.IsNullOrWhiteSpace(line)) continue;
                _fields = ImageDataset.SplitLine(line, _view._separator);
                return true;
            }
        }

        protected override object? GetValue(int col)
        {
            var m = _view._members.Members[col];
            var type = Schema[col].Type;
            string where = $"'{_view._path}' line {_line}";
            string Field(int i) => i < _fields!.Count ? _fields[i]
                : throw new InvalidDataException($"{where}: column '{m.ColumnName}' reads field {i + 1}, but the line has {_fields.Count} fields (separator '{(_view._separator == '\t' ? "\\t" : _view._separator)}')");
            if (type is VectorDataViewType v)
            {
                var a = Array.CreateInstance(v.ItemType.RawType, m.LoadColumns!.Count);
                for (int i = 0; i < a.Length; i++) a.SetValue(Parse(Field(m.LoadColumns[i]), v.ItemType.RawType, $"{where}, column '{m.ColumnName}'"), i);
                return a;
            }
            return Parse(Field(m.LoadColumns![0]), type.RawType, $"{where}, column '{m.ColumnName}'");
        }

        protected override void Dispose(bool disposing)
        {
            if (disposing) _reader.Dispose();
            base.Dispose(disposing);
        }
    }
}
