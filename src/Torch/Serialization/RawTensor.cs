using System.Buffers.Binary;

namespace MLNet.Attention.Torch.Serialization;

/// <summary>
/// A tensor as plain bytes, independent of libtorch: an element type, a shape and the
/// contiguous row-major little-endian bytes of its elements. This is what the weights
/// readers and writers (<see cref="SafeTensors"/>, <see cref="PyTorchCheckpoint"/>) exchange.
/// </summary>
public sealed class RawTensor
{
    /// <summary>Creates a raw tensor. <paramref name="shape"/> is copied; <paramref name="data"/> is kept as is, not copied.</summary>
    /// <param name="dtype">Element type.</param>
    /// <param name="shape">Size of each dimension; empty for a 0-d (scalar) tensor.</param>
    /// <param name="data">Contiguous row-major little-endian element bytes: exactly product(shape) * element size bytes.</param>
    /// <exception cref="ArgumentException">A negative dimension, or a data length that does not match the shape and dtype.</exception>
    public RawTensor(DType dtype, long[] shape, byte[] data)
    {
        ArgumentNullException.ThrowIfNull(shape);
        ArgumentNullException.ThrowIfNull(data);
        if (!Enum.IsDefined(dtype))
        {
            throw new ArgumentOutOfRangeException(nameof(dtype), dtype, "unknown dtype");
        }
        long count = CountElements(shape) ?? throw new ArgumentException(
            $"shape [{string.Join(", ", shape)}] has a negative dimension or too many elements", nameof(shape));
        long expected = checked(count * dtype.ElementSize());
        if (data.LongLength != expected)
        {
            throw new ArgumentException(
                $"a {dtype} tensor of shape [{string.Join(", ", shape)}] needs {expected} bytes of data, got {data.LongLength}", nameof(data));
        }
        DType = dtype;
        Shape = (long[])shape.Clone();
        Data = data;
        ElementCount = count;
    }

    /// <summary>Element type.</summary>
    public DType DType { get; }

    /// <summary>Size of each dimension; empty for a 0-d (scalar) tensor.</summary>
    public long[] Shape { get; }

    /// <summary>Contiguous row-major little-endian element bytes.</summary>
    public byte[] Data { get; }

    /// <summary>Number of elements: the product of <see cref="Shape"/> (1 for a 0-d tensor).</summary>
    public long ElementCount { get; }

    /// <summary>Number of dimensions.</summary>
    public int Rank => Shape.Length;

    /// <summary>The elements as single-precision floats (Float16, BFloat16, Float32 or Float64 tensors only).</summary>
    /// <exception cref="NotSupportedException">The tensor is not of a floating-point dtype.</exception>
    public float[] ToFloatArray()
    {
        var result = new float[ElementCount];
        ReadOnlySpan<byte> src = Data;
        switch (DType)
        {
            case DType.Float32:
                for (int i = 0; i < result.Length; i++)
                {
                    result[i] = BinaryPrimitives.ReadSingleLittleEndian(src.Slice(i * 4, 4));
                }
                break;
            case DType.Float64:
                for (int i = 0; i < result.Length; i++)
                {
                    result[i] = (float)BinaryPrimitives.ReadDoubleLittleEndian(src.Slice(i * 8, 8));
                }
                break;
            case DType.Float16:
                for (int i = 0; i < result.Length; i++)
                {
                    result[i] = (float)BinaryPrimitives.ReadHalfLittleEndian(src.Slice(i * 2, 2));
                }
                break;
            case DType.BFloat16:
                for (int i = 0; i < result.Length; i++)
                {
                    uint bits = (uint)BinaryPrimitives.ReadUInt16LittleEndian(src.Slice(i * 2, 2)) << 16;
                    result[i] = BitConverter.UInt32BitsToSingle(bits);
                }
                break;
            default:
                throw new NotSupportedException($"ToFloatArray needs a floating-point tensor; this one is {DType}");
        }
        return result;
    }

    /// <summary>A Float32 tensor holding a copy of <paramref name="data"/>.</summary>
    /// <param name="data">The elements, row-major.</param>
    /// <param name="shape">The shape; when empty or omitted, a 1-D tensor of <c>data.Length</c> elements (build a 0-d tensor with the constructor).</param>
    /// <exception cref="ArgumentException">The shape does not hold <c>data.Length</c> elements.</exception>
    public static RawTensor FromFloats(float[] data, params long[] shape)
    {
        ArgumentNullException.ThrowIfNull(data);
        ArgumentNullException.ThrowIfNull(shape);
        if (shape.Length == 0)
        {
            shape = [data.Length];
        }
        var bytes = new byte[checked((long)data.Length * 4)];
        for (int i = 0; i < data.Length; i++)
        {
            BinaryPrimitives.WriteSingleLittleEndian(bytes.AsSpan(i * 4, 4), data[i]);
        }
        return new RawTensor(DType.Float32, shape, bytes);
    }

    /// <summary>A short description: dtype and shape.</summary>
    public override string ToString() => $"RawTensor({DType}, [{string.Join(", ", Shape)}])";

    /// <summary>Product of the dimensions, or null if one is negative or the product overflows.</summary>
    internal static long? CountElements(IReadOnlyList<long> shape)
    {
        long count = 1;
        bool zero = false, overflow = false;
        foreach (long d in shape)
        {
            if (d < 0)
            {
                return null;
            }
            if (d == 0)
            {
                zero = true;
            }
            else if (count > long.MaxValue / d)
            {
                overflow = true;
            }
            else
            {
                count *= d;
            }
        }
        // A zero dimension anywhere makes the tensor empty, whatever the others multiply to.
        return zero ? 0 : overflow ? null : count;
    }
}
