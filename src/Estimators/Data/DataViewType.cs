using System.Collections.Immutable;
using MLNet.Attention.Transforms;

namespace MLNet.Attention.Data;

/// <summary>
/// The type of a column of an <see cref="IDataView"/> (ML.NET's <c>DataViewType</c>): a scalar number, text, a
/// boolean, a key (<see cref="KeyDataViewType"/>), a vector of numbers, or a decoded image. <see cref="RawType"/> is the .NET type a getter delivers.
/// </summary>
public abstract class DataViewType : IEquatable<DataViewType>
{
    /// <summary>The .NET type of a value of this column (<c>float</c>, <c>string</c>, <c>float[]</c>, <see cref="ImageData"/>, ...).</summary>
    public Type RawType { get; }

    /// <summary>A type whose values are <paramref name="rawType"/>.</summary>
    protected DataViewType(Type rawType)
    {
        ArgumentNullException.ThrowIfNull(rawType);
        RawType = rawType;
    }

    /// <inheritdoc/>
    public abstract bool Equals(DataViewType? other);

    /// <inheritdoc/>
    public override bool Equals(object? obj) => obj is DataViewType t && Equals(t);

    /// <inheritdoc/>
    public override int GetHashCode() => RawType.GetHashCode();

    /// <summary>The scalar type of a .NET type (<c>float</c> → <see cref="NumberDataViewType.Single"/>, ...), or null.</summary>
    internal static PrimitiveDataViewType? FromRawType(Type type)
    {
        if (type == typeof(string) || type == typeof(ReadOnlyMemory<char>)) return TextDataViewType.Instance;
        if (type == typeof(bool)) return BooleanDataViewType.Instance;
        if (type == typeof(float)) return NumberDataViewType.Single;
        if (type == typeof(double)) return NumberDataViewType.Double;
        if (type == typeof(int)) return NumberDataViewType.Int32;
        if (type == typeof(long)) return NumberDataViewType.Int64;
        if (type == typeof(uint)) return NumberDataViewType.UInt32;
        if (type == typeof(byte)) return NumberDataViewType.Byte;
        return null;
    }
}

/// <summary>A scalar type: text, boolean or number (ML.NET's <c>PrimitiveDataViewType</c>).</summary>
public abstract class PrimitiveDataViewType : DataViewType
{
    /// <summary>A primitive type whose values are <paramref name="rawType"/>.</summary>
    protected PrimitiveDataViewType(Type rawType) : base(rawType) { }

    /// <inheritdoc/>
    public override bool Equals(DataViewType? other) => other is PrimitiveDataViewType p && p.GetType() == GetType() && p.RawType == RawType;

    /// <inheritdoc/>
    public override int GetHashCode() => RawType.GetHashCode();
}

/// <summary>Text; getters deliver <see cref="string"/> (or ML.NET's <see cref="ReadOnlyMemory{T}"/> of char).</summary>
public sealed class TextDataViewType : PrimitiveDataViewType
{
    /// <summary>The text type.</summary>
    public static TextDataViewType Instance { get; } = new();

    private TextDataViewType() : base(typeof(string)) { }

    /// <inheritdoc/>
    public override string ToString() => "String";
}

/// <summary>Booleans.</summary>
public sealed class BooleanDataViewType : PrimitiveDataViewType
{
    /// <summary>The boolean type.</summary>
    public static BooleanDataViewType Instance { get; } = new();

    private BooleanDataViewType() : base(typeof(bool)) { }

    /// <inheritdoc/>
    public override string ToString() => "Boolean";
}

/// <summary>Numbers: <see cref="Single"/>, <see cref="Double"/>, <see cref="Int32"/>, <see cref="Int64"/>, <see cref="UInt32"/>, <see cref="Byte"/>.</summary>
public sealed class NumberDataViewType : PrimitiveDataViewType
{
    private readonly string _name;

    private NumberDataViewType(Type rawType, string name) : base(rawType) => _name = name;

    /// <summary>32-bit floats.</summary>
    public static NumberDataViewType Single { get; } = new(typeof(float), "Single");
    /// <summary>64-bit floats.</summary>
    public static NumberDataViewType Double { get; } = new(typeof(double), "Double");
    /// <summary>32-bit integers.</summary>
    public static NumberDataViewType Int32 { get; } = new(typeof(int), "Int32");
    /// <summary>64-bit integers.</summary>
    public static NumberDataViewType Int64 { get; } = new(typeof(long), "Int64");
    /// <summary>32-bit unsigned integers.</summary>
    public static NumberDataViewType UInt32 { get; } = new(typeof(uint), "UInt32");
    /// <summary>Bytes.</summary>
    public static NumberDataViewType Byte { get; } = new(typeof(byte), "Byte");

    /// <summary>True for the integer types.</summary>
    public bool IsInteger => RawType != typeof(float) && RawType != typeof(double);

    /// <inheritdoc/>
    public override string ToString() => _name;
}

/// <summary>
/// A key (ML.NET's <c>KeyDataViewType</c>): an index into a dictionary of values, as <see cref="uint"/>. Value 0 means
/// missing (a value that was not in the dictionary); 1..<see cref="Count"/> are the keys. The dictionary itself — the
/// original values, in key order — rides in the column's <see cref="DataViewSchema.AnnotationKinds.KeyValues"/>
/// annotation as text, with their type in <see cref="DataViewSchema.AnnotationKinds.KeyValueType"/>. Made by
/// <c>MapValueToKey</c>, read back into values by <c>MapKeyToValue</c>; trainers take key labels as class indices
/// (key − 1). Two key types are equal when their <see cref="Count"/> is.
/// </summary>
public sealed class KeyDataViewType : PrimitiveDataViewType
{
    /// <summary>The number of keys (the key values are 1..Count; 0 is missing).</summary>
    public ulong Count { get; }

    /// <summary>Keys 1..<paramref name="count"/> held as <paramref name="type"/> (only <see cref="uint"/> here, ML.NET's default).</summary>
    /// <exception cref="ArgumentException"><paramref name="type"/> is not <see cref="uint"/>.</exception>
    /// <exception cref="ArgumentOutOfRangeException"><paramref name="count"/> is 0 or above <see cref="uint.MaxValue"/>.</exception>
    public KeyDataViewType(Type type, ulong count) : base(type ?? throw new ArgumentNullException(nameof(type)))
    {
        if (type != typeof(uint))
            throw new ArgumentException($"keys are held as UInt32 here (ML.NET's default); {Conversions.TypeName(type)} is not supported", nameof(type));
        if (count == 0 || count > uint.MaxValue) throw new ArgumentOutOfRangeException(nameof(count), count, $"a key type holds 1 to {uint.MaxValue} keys");
        Count = count;
    }

    /// <summary>Keys 1..<paramref name="count"/> held as <paramref name="type"/> (only <see cref="uint"/>).</summary>
    public KeyDataViewType(Type type, int count) : this(type, count > 0 ? (ulong)count : throw new ArgumentOutOfRangeException(nameof(count), count, "a key type holds at least 1 key")) { }

    /// <inheritdoc/>
    public override bool Equals(DataViewType? other) => other is KeyDataViewType k && k.Count == Count;

    /// <inheritdoc/>
    public override int GetHashCode() => HashCode.Combine(typeof(KeyDataViewType), Count);

    /// <summary>ML.NET's form: <c>Key&lt;UInt32, 0-{Count − 1}&gt;</c>.</summary>
    public override string ToString() => $"Key<UInt32, 0-{Count - 1}>";

    /// <summary>Parses <see cref="ToString"/>'s form back, or null.</summary>
    internal static KeyDataViewType? TryParse(string? text)
    {
        const string prefix = "Key<UInt32, 0-";
        if (text is null || !text.StartsWith(prefix, StringComparison.Ordinal) || !text.EndsWith('>')) return null;
        return ulong.TryParse(text.AsSpan(prefix.Length, text.Length - prefix.Length - 1), System.Globalization.NumberStyles.None, System.Globalization.CultureInfo.InvariantCulture, out var max)
               && max < uint.MaxValue ? new KeyDataViewType(typeof(uint), max + 1) : null;
    }
}

/// <summary>
/// A vector of a primitive type (ML.NET's <c>VectorDataViewType</c>) with known dimensions (e.g. 3 × 224 × 224 for
/// extracted pixels), or of variable size (<see cref="Size"/> 0). Getters deliver <c>T[]</c> or <see cref="VBuffer{T}"/>.
/// </summary>
public sealed class VectorDataViewType : DataViewType
{
    /// <summary>The element type.</summary>
    public PrimitiveDataViewType ItemType { get; }

    /// <summary>The dimensions; empty (or containing 0) for a vector of variable size.</summary>
    public ImmutableArray<int> Dimensions { get; }

    /// <summary>The number of elements (product of the dimensions), or 0 when the size varies.</summary>
    public int Size { get; }

    /// <summary>True when every vector of the column has <see cref="Size"/> elements.</summary>
    public bool IsKnownSize => Size > 0;

    /// <summary>A vector of <paramref name="itemType"/> with <paramref name="dimensions"/> (none: variable size).</summary>
    public VectorDataViewType(PrimitiveDataViewType itemType, params int[] dimensions)
        : base((itemType ?? throw new ArgumentNullException(nameof(itemType))).RawType.MakeArrayType())
    {
        ArgumentNullException.ThrowIfNull(dimensions);
        if (itemType is TextDataViewType) throw new ArgumentException("vectors of text are not supported", nameof(itemType));
        if (dimensions.Any(d => d < 0)) throw new ArgumentOutOfRangeException(nameof(dimensions), "dimensions must be >= 0");
        ItemType = itemType;
        Dimensions = dimensions.ToImmutableArray();
        Size = dimensions.Length == 0 || dimensions.Contains(0) ? 0 : dimensions.Aggregate(1, (a, b) => checked(a * b));
    }

    /// <inheritdoc/>
    public override bool Equals(DataViewType? other) =>
        other is VectorDataViewType v && v.ItemType.Equals(ItemType) && v.Size == Size && (Size == 0 || v.Dimensions.SequenceEqual(Dimensions));

    /// <inheritdoc/>
    public override int GetHashCode() => HashCode.Combine(ItemType, Size);

    /// <inheritdoc/>
    public override string ToString() => Size == 0 ? $"Vector<{ItemType}>" : $"Vector<{ItemType}, {string.Join(", ", Dimensions)}>";
}

/// <summary>
/// A decoded image (ML.NET's <c>ImageDataViewType</c>); getters deliver <see cref="ImageData"/>. Height and width are
/// known after a resize (0: they vary).
/// </summary>
public sealed class ImageDataViewType : DataViewType
{
    /// <summary>Height of every image, or 0 when it varies.</summary>
    public int Height { get; }
    /// <summary>Width of every image, or 0 when it varies.</summary>
    public int Width { get; }
    /// <summary>Channels of every image (1 gray, 3 RGB, ...), or 0 when unknown.</summary>
    public int Channels { get; }

    /// <summary>Images of varying size.</summary>
    public ImageDataViewType() : this(0, 0) { }

    /// <summary>Images of <paramref name="height"/> × <paramref name="width"/> (0: varies) with <paramref name="channels"/> channels (0: unknown).</summary>
    public ImageDataViewType(int height, int width, int channels = 0) : base(typeof(ImageData))
    {
        if (height < 0) throw new ArgumentOutOfRangeException(nameof(height), height, "must be >= 0");
        if (width < 0) throw new ArgumentOutOfRangeException(nameof(width), width, "must be >= 0");
        if (channels is < 0 or > 4) throw new ArgumentOutOfRangeException(nameof(channels), channels, "must be 0 (unknown) to 4");
        Height = height; Width = width; Channels = channels;
    }

    /// <inheritdoc/>
    public override bool Equals(DataViewType? other) => other is ImageDataViewType i && i.Height == Height && i.Width == Width && i.Channels == Channels;

    /// <inheritdoc/>
    public override int GetHashCode() => HashCode.Combine(Height, Width, Channels);

    /// <inheritdoc/>
    public override string ToString() => (Height == 0 ? "Image" : $"Image<{Height}, {Width}>") + (Channels == 0 ? "" : $"({Channels} channels)");
}
