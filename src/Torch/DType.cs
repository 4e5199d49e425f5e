namespace MLNet.Attention.Torch;

/// <summary>Element types of a tensor. The values are libtorch's <c>c10::ScalarType</c> codes.</summary>
public enum DType
{
    /// <summary>8-bit unsigned integer.</summary>
    UInt8 = 0,
    /// <summary>8-bit signed integer.</summary>
    Int8 = 1,
    /// <summary>16-bit signed integer.</summary>
    Int16 = 2,
    /// <summary>32-bit signed integer.</summary>
    Int32 = 3,
    /// <summary>64-bit signed integer (labels, indices).</summary>
    Int64 = 4,
    /// <summary>IEEE half precision.</summary>
    Float16 = 5,
    /// <summary>IEEE single precision (the default).</summary>
    Float32 = 6,
    /// <summary>IEEE double precision.</summary>
    Float64 = 7,
    /// <summary>Boolean.</summary>
    Bool = 11,
    /// <summary>Brain floating point (8-bit exponent, 7-bit mantissa).</summary>
    BFloat16 = 15,
}

/// <summary>Facts about <see cref="DType"/> values.</summary>
public static class DTypeExtensions
{
    /// <summary>Size of one element in bytes.</summary>
    public static int ElementSize(this DType dtype) => dtype switch
    {
        DType.UInt8 or DType.Int8 or DType.Bool => 1,
        DType.Int16 or DType.Float16 or DType.BFloat16 => 2,
        DType.Int32 or DType.Float32 => 4,
        DType.Int64 or DType.Float64 => 8,
        _ => throw new ArgumentOutOfRangeException(nameof(dtype), dtype, "unknown dtype"),
    };

    /// <summary>True for the floating-point types.</summary>
    public static bool IsFloatingPoint(this DType dtype) =>
        dtype is DType.Float16 or DType.Float32 or DType.Float64 or DType.BFloat16;

    /// <summary>The dtype that stores a managed element type.</summary>
    public static DType Of<T>() where T : unmanaged =>
        typeof(T) == typeof(float) ? DType.Float32
        : typeof(T) == typeof(double) ? DType.Float64
        : typeof(T) == typeof(long) ? DType.Int64
        : typeof(T) == typeof(int) ? DType.Int32
        : typeof(T) == typeof(short) ? DType.Int16
        : typeof(T) == typeof(byte) ? DType.UInt8
        : typeof(T) == typeof(sbyte) ? DType.Int8
        : typeof(T) == typeof(bool) ? DType.Bool
        : typeof(T) == typeof(Half) ? DType.Float16
        : throw new NotSupportedException($"no tensor dtype stores {typeof(T).Name}; use float, double, long, int, short, byte, sbyte, bool or Half (BFloat16 travels as ushort bits via FromBFloat16Bits)");
}
