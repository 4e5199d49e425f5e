using System.Collections.Concurrent;
using System.Reflection;
using MLNet.Attention.Transforms;

namespace MLNet.Attention.Data;

/// <summary>
/// The columns of a .NET class: its public fields and properties (not <see cref="NoColumnAttribute"/>), named by
/// <see cref="ColumnNameAttribute"/> or the member name, typed from the member's type.
/// </summary>
internal sealed class TypedMembers
{
    private static readonly ConcurrentDictionary<Type, TypedMembers> Cache = new();

    internal sealed record Member(string ColumnName, MemberInfo Info, Type MemberType, DataViewType ColumnType, IReadOnlyList<int>? LoadColumns)
    {
        public bool CanRead => Info is FieldInfo || Info is PropertyInfo { CanRead: true } p && p.GetMethod!.IsPublic;
        public bool CanWrite => Info is FieldInfo { IsInitOnly: false } || Info is PropertyInfo { CanWrite: true } p && p.SetMethod!.IsPublic;

        /// <summary>The member's value in the cursor representation (string, T[], ImageData, numbers).</summary>
        public object? Read(object row)
        {
            object? v = Info is FieldInfo f ? f.GetValue(row) : ((PropertyInfo)Info).GetValue(row);
            return v switch
            {
                ReadOnlyMemory<char> m => m.ToString(),
                _ when v is not null && MemberType.IsGenericType && MemberType.GetGenericTypeDefinition() == typeof(VBuffer<>) =>
                    MemberType.GetProperty("Array_", BindingFlags.NonPublic | BindingFlags.Instance)!.GetValue(v),
                _ => v,
            };
        }

        /// <summary>Stores a cursor value into the member.</summary>
        public void Write(object row, object? value)
        {
            object? v = MemberType == typeof(ReadOnlyMemory<char>) && value is string s ? s.AsMemory()
                : MemberType.IsGenericType && MemberType.GetGenericTypeDefinition() == typeof(VBuffer<>) && value is Array a ? Activator.CreateInstance(MemberType, a)
                : value;
            if (Info is FieldInfo f) f.SetValue(row, v);
            else ((PropertyInfo)Info).SetValue(row, v);
        }
    }

    public Type Type { get; }
    public IReadOnlyList<Member> Members { get; }

    private TypedMembers(Type type, IReadOnlyList<Member> members)
    {
        Type = type; Members = members;
    }

    public static TypedMembers For(Type type) => Cache.GetOrAdd(type, Build);

    private static TypedMembers Build(Type type)
    {
        var members = new List<Member>();
        var infos = type.GetFields(BindingFlags.Public | BindingFlags.Instance).Cast<MemberInfo>()
            .Concat(type.GetProperties(BindingFlags.Public | BindingFlags.Instance).Where(p => p.GetIndexParameters().Length == 0))
            .OrderBy(m => m.MetadataToken);
        foreach (var info in infos)
        {
            if (info.GetCustomAttribute<NoColumnAttribute>() is not null) continue;
            var mt = info is FieldInfo f ? f.FieldType : ((PropertyInfo)info).PropertyType;
            string name = info.GetCustomAttribute<ColumnNameAttribute>()?.Name ?? info.Name;
            var columnType = ColumnTypeOf(type, info, mt);
            members.Add(new Member(name, info, mt, columnType, info.GetCustomAttribute<LoadColumnAttribute>()?.Indices));
        }
        var dup = members.GroupBy(m => m.ColumnName, StringComparer.Ordinal).FirstOrDefault(g => g.Count() > 1);
        if (dup is not null) throw new InvalidOperationException($"{type.Name}: members {string.Join(" and ", dup.Select(m => m.Info.Name))} both map to column '{dup.Key}'");
        return new TypedMembers(type, members);
    }

    private static DataViewType ColumnTypeOf(Type owner, MemberInfo info, Type mt)
    {
        if (info.GetCustomAttribute<KeyTypeAttribute>() is { } key)
            return mt == typeof(uint) ? new KeyDataViewType(typeof(uint), key.Count)
                : throw new NotSupportedException($"{owner.Name}.{info.Name} is marked [KeyType] but has type {Conversions.TypeName(mt)}; keys are uint");
        if (DataViewType.FromRawType(mt) is { } p) return p;
        if (mt == typeof(ImageData))
        {
            var it = info.GetCustomAttribute<ImageTypeAttribute>();
            return it is null ? new ImageDataViewType() : new ImageDataViewType(it.Height, it.Width, it.Channels);
        }
        Type? item = mt.IsArray && mt.GetArrayRank() == 1 ? mt.GetElementType()
            : mt.IsGenericType && mt.GetGenericTypeDefinition() == typeof(VBuffer<>) ? mt.GetGenericArguments()[0] : null;
        if (item is not null && DataViewType.FromRawType(item) is { } ip and not TextDataViewType)
        {
            var dims = info.GetCustomAttribute<VectorTypeAttribute>()?.Dimensions.ToArray() ?? Array.Empty<int>();
            return new VectorDataViewType(ip, dims);
        }
        throw new NotSupportedException(
            $"{owner.Name}.{info.Name} has type {Conversions.TypeName(mt)}, which no column type holds; use string, bool, float, double, int, long, uint, byte, " +
            "an array (or VBuffer) of a number type, or ImageData (or mark it [NoColumn])");
    }
}

/// <summary>A view over objects in memory (ML.NET's <c>LoadFromEnumerable</c>): enumerated again by every cursor.</summary>
internal sealed class EnumerableDataView<T> : IDataView where T : class
{
    private readonly IEnumerable<T> _rows;
    private readonly TypedMembers _members;

    public EnumerableDataView(IEnumerable<T> rows, DataViewSchema? schemaDefinition = null)
    {
        ArgumentNullException.ThrowIfNull(rows);
        _rows = rows;
        _members = TypedMembers.For(typeof(T));
        var b = new DataViewSchema.Builder();
        foreach (var m in _members.Members)
        {
            if (!m.CanRead) continue;
            var type = schemaDefinition?.GetColumnOrNull(m.ColumnName)?.Type ?? m.ColumnType;
            b.AddColumn(m.ColumnName, type);
        }
        Schema = b.ToSchema();
        if (Schema.Count == 0) throw new ArgumentException($"{typeof(T).Name} has no public readable field or property to make a column of", nameof(rows));
    }

    public DataViewSchema Schema { get; }

    public bool CanShuffle => false;

    public long? GetRowCount() => _rows is ICollection<T> c ? c.Count : _rows is IReadOnlyCollection<T> r ? r.Count : null;

    public DataViewRowCursor GetRowCursor(IEnumerable<DataViewSchema.Column> columnsNeeded, Random? rand = null) => new Cursor(this, columnsNeeded);

    private sealed class Cursor : RowCursor
    {
        private readonly IEnumerator<T> _e;
        private readonly TypedMembers.Member[] _byColumn;
        private readonly DataViewType[] _types;

        public Cursor(EnumerableDataView<T> view, IEnumerable<DataViewSchema.Column> active) : base(view.Schema, active)
        {
            _e = view._rows.GetEnumerator();
            _byColumn = view.Schema.Select(c => view._members.Members.First(m => m.ColumnName == c.Name)).ToArray();
            _types = view.Schema.Select(c => c.Type).ToArray();
        }

        protected override bool Advance()
        {
            if (!_e.MoveNext()) return false;
            if (_e.Current is null) throw new InvalidOperationException($"row {Position + 1} of the {typeof(T).Name} rows is null");
            return true;
        }

        protected override object? GetValue(int col)
        {
            var v = _byColumn[col].Read(_e.Current);
            if (_types[col] is VectorDataViewType { IsKnownSize: true } vt && v is Array a && a.Length != vt.Size)
                throw new InvalidOperationException($"column '{Schema[col].Name}' is {vt} but row {Position} holds {a.Length} values");
            return v;
        }

        protected override void Dispose(bool disposing)
        {
            if (disposing) _e.Dispose();
            base.Dispose(disposing);
        }
    }
}

/// <summary>Reads rows of a view into objects of <typeparamref name="T"/> (ML.NET's <c>CreateEnumerable</c> and the prediction engine's output).</summary>
internal sealed class RowToObjectMapper<T> where T : class, new()
{
    private readonly (TypedMembers.Member Member, DataViewSchema.Column Column)[] _bound;

    public IReadOnlyList<DataViewSchema.Column> Columns { get; }

    public RowToObjectMapper(DataViewSchema schema, bool ignoreMissingColumns = false)
    {
        var bound = new List<(TypedMembers.Member, DataViewSchema.Column)>();
        foreach (var m in TypedMembers.For(typeof(T)).Members)
        {
            if (!m.CanWrite) continue;
            var col = schema.GetColumnOrNull(m.ColumnName);
            if (col is null)
            {
                if (ignoreMissingColumns) continue;
                throw new ArgumentOutOfRangeException(nameof(schema),
                    $"{typeof(T).Name}.{m.Info.Name} reads column '{m.ColumnName}', which the data does not have ({schema.Describe()}); rename the member or mark it [ColumnName(\"...\")] or [NoColumn]");
            }
            var c = col.Value;
            if (!Conversions.CanDeliver(c.Type, m.MemberType))
                throw new InvalidOperationException(
                    $"column '{c.Name}' holds {c.Type}, but {typeof(T).Name}.{m.Info.Name} is {Conversions.TypeName(m.MemberType)}; make it {Conversions.TypeName(c.Type.RawType)}");
            bound.Add((m, c));
        }
        _bound = bound.ToArray();
        Columns = _bound.Select(b => b.Column).Distinct().ToArray();
    }

    public Func<T?, T> MakeReader(DataViewRow row)
    {
        var getters = _bound.Select(b => RowAccess.Boxed(row, b.Column)).ToArray();
        return target =>
        {
            var obj = target ?? new T();
            for (int i = 0; i < _bound.Length; i++) _bound[i].Member.Write(obj, getters[i]());
            return obj;
        };
    }
}
