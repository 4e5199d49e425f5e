namespace MLNet.Attention.Data;

/// <summary>The column a field or property maps to, when its name differs (ML.NET's <c>ColumnNameAttribute</c>).</summary>
[AttributeUsage(AttributeTargets.Field | AttributeTargets.Property)]
public sealed class ColumnNameAttribute : Attribute
{
    /// <summary>The column name.</summary>
    public string Name { get; }

    /// <summary>Maps the member to column <paramref name="name"/>.</summary>
    public ColumnNameAttribute(string name)
    {
        ArgumentException.ThrowIfNullOrEmpty(name);
        Name = name;
    }
}

/// <summary>Leaves a field or property out of the schema (ML.NET's <c>NoColumnAttribute</c>).</summary>
[AttributeUsage(AttributeTargets.Field | AttributeTargets.Property)]
public sealed class NoColumnAttribute : Attribute { }

/// <summary>The dimensions of an array member's vector column (ML.NET's <c>VectorTypeAttribute</c>); without it the size varies.</summary>
[AttributeUsage(AttributeTargets.Field | AttributeTargets.Property)]
public sealed class VectorTypeAttribute : Attribute
{
    /// <summary>The dimensions.</summary>
    public IReadOnlyList<int> Dimensions { get; }

    /// <summary>A vector of the given dimensions (e.g. 3, 28, 28).</summary>
    public VectorTypeAttribute(params int[] dimensions)
    {
        ArgumentNullException.ThrowIfNull(dimensions);
        if (dimensions.Any(d => d <= 0)) throw new ArgumentOutOfRangeException(nameof(dimensions), "dimensions must be > 0");
        Dimensions = dimensions.ToArray();
    }
}

/// <summary>The size of an <see cref="MLNet.Attention.Transforms.ImageData"/> member's image column (ML.NET's <c>ImageTypeAttribute</c>).</summary>
[AttributeUsage(AttributeTargets.Field | AttributeTargets.Property)]
public sealed class ImageTypeAttribute : Attribute
{
    /// <summary>Height in pixels.</summary>
    public int Height { get; }
    /// <summary>Width in pixels.</summary>
    public int Width { get; }
    /// <summary>Channels (1 gray, 3 RGB; 0 unknown).</summary>
    public int Channels { get; set; }

    /// <summary>Images of <paramref name="height"/> × <paramref name="width"/>.</summary>
    public ImageTypeAttribute(int height, int width)
    {
        if (height <= 0) throw new ArgumentOutOfRangeException(nameof(height), height, "must be > 0");
        if (width <= 0) throw new ArgumentOutOfRangeException(nameof(width), width, "must be > 0");
        Height = height; Width = width;
    }
}

/// <summary>The zero-based field of a text file a member is read from (ML.NET's <c>LoadColumnAttribute</c>).</summary>
[AttributeUsage(AttributeTargets.Field | AttributeTargets.Property)]
public sealed class LoadColumnAttribute : Attribute
{
    /// <summary>The field indices (one for a scalar; several, or a range, for a vector).</summary>
    public IReadOnlyList<int> Indices { get; }

    /// <summary>Field <paramref name="fieldIndex"/>.</summary>
    public LoadColumnAttribute(int fieldIndex) : this(new[] { fieldIndex }) { }

    /// <summary>Fields <paramref name="start"/> to <paramref name="end"/> inclusive (a vector).</summary>
    public LoadColumnAttribute(int start, int end)
        : this(end >= start ? Enumerable.Range(start, end - start + 1).ToArray() : throw new ArgumentOutOfRangeException(nameof(end), end, $"must be >= start ({start})")) { }

    /// <summary>The listed fields (a vector).</summary>
    public LoadColumnAttribute(int[] columnIndexes)
    {
        ArgumentNullException.ThrowIfNull(columnIndexes);
        if (columnIndexes.Length == 0 || columnIndexes.Any(i => i < 0)) throw new ArgumentOutOfRangeException(nameof(columnIndexes), "field indices must be >= 0, at least one");
        Indices = columnIndexes.ToArray();
    }
}

/// <summary>Makes a <see cref="uint"/> member a key column of <see cref="Count"/> keys (ML.NET's <c>KeyTypeAttribute</c>):
/// 0 is missing, 1..Count the keys. Such a column has no key values.</summary>
[AttributeUsage(AttributeTargets.Field | AttributeTargets.Property)]
public sealed class KeyTypeAttribute : Attribute
{
    /// <summary>The number of keys.</summary>
    public ulong Count { get; }

    /// <summary>Keys 1..<paramref name="count"/>.</summary>
    public KeyTypeAttribute(ulong count)
    {
        if (count == 0 || count > uint.MaxValue) throw new ArgumentOutOfRangeException(nameof(count), count, $"a key type holds 1 to {uint.MaxValue} keys");
        Count = count;
    }
}
