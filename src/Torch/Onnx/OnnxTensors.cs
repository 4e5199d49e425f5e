using Google.Protobuf;
using P = global::Onnx;

namespace MLNet.Attention.Torch.Onnx;

/// <summary>Conversions between tensors and ONNX <c>TensorProto</c>s (initializers), both ways.</summary>
public static class OnnxTensors
{
    /// <summary>The ONNX element type of <paramref name="dtype"/>.</summary>
    public static int ElementType(DType dtype) => dtype switch
    {
        DType.Float32 => (int)P.TensorProto.Types.DataType.Float,
        DType.Float64 => (int)P.TensorProto.Types.DataType.Double,
        DType.Float16 => (int)P.TensorProto.Types.DataType.Float16,
        DType.BFloat16 => (int)P.TensorProto.Types.DataType.Bfloat16,
        DType.Int64 => (int)P.TensorProto.Types.DataType.Int64,
        DType.Int32 => (int)P.TensorProto.Types.DataType.Int32,
        DType.Int16 => (int)P.TensorProto.Types.DataType.Int16,
        DType.Int8 => (int)P.TensorProto.Types.DataType.Int8,
        DType.UInt8 => (int)P.TensorProto.Types.DataType.Uint8,
        DType.Bool => (int)P.TensorProto.Types.DataType.Bool,
        _ => throw new NotSupportedException($"no ONNX element type for {dtype}"),
    };

    /// <summary>The tensor dtype of ONNX element type <paramref name="elementType"/>.</summary>
    public static DType DTypeOf(int elementType) => (P.TensorProto.Types.DataType)elementType switch
    {
        P.TensorProto.Types.DataType.Float => DType.Float32,
        P.TensorProto.Types.DataType.Double => DType.Float64,
        P.TensorProto.Types.DataType.Float16 => DType.Float16,
        P.TensorProto.Types.DataType.Bfloat16 => DType.BFloat16,
        P.TensorProto.Types.DataType.Int64 => DType.Int64,
        P.TensorProto.Types.DataType.Int32 => DType.Int32,
        P.TensorProto.Types.DataType.Int16 => DType.Int16,
        P.TensorProto.Types.DataType.Int8 => DType.Int8,
        P.TensorProto.Types.DataType.Uint8 => DType.UInt8,
        P.TensorProto.Types.DataType.Bool => DType.Bool,
        _ => throw new NotSupportedException($"ONNX element type {elementType} ({(P.TensorProto.Types.DataType)elementType}) has no tensor dtype here"),
    };

    /// <summary>An initializer named <paramref name="name"/> holding a copy of <paramref name="tensor"/> (row-major, any memory format).</summary>
    public static P.TensorProto ToProto(string name, Tensor tensor)
    {
        ArgumentNullException.ThrowIfNull(tensor);
        var bytes = OnnxTrace.Suspended(tensor.ToBytes);
        var t = new P.TensorProto { Name = name, DataType = ElementType(tensor.DType), RawData = ByteString.CopyFrom(bytes) };
        t.Dims.AddRange(tensor.Shape);
        return t;
    }

    internal static P.TensorProto Int64(long[] values, long[] dims)
    {
        var bytes = new byte[values.Length * sizeof(long)];
        Buffer.BlockCopy(values, 0, bytes, 0, bytes.Length);
        var t = new P.TensorProto { DataType = (int)P.TensorProto.Types.DataType.Int64, RawData = ByteString.CopyFrom(bytes) };
        t.Dims.AddRange(dims);
        return t;
    }

    internal static P.TensorProto Scalar(double value, DType dtype)
    {
        byte[] bytes = dtype switch
        {
            DType.Float32 => BitConverter.GetBytes((float)value),
            DType.Float64 => BitConverter.GetBytes(value),
            DType.Float16 => BitConverter.GetBytes((Half)value),
            DType.Int64 => BitConverter.GetBytes((long)value),
            DType.Int32 => BitConverter.GetBytes((int)value),
            DType.Int16 => BitConverter.GetBytes((short)value),
            DType.Int8 => new[] { unchecked((byte)(sbyte)value) },
            DType.UInt8 => new[] { (byte)value },
            DType.Bool => new[] { value != 0 ? (byte)1 : (byte)0 },
            _ => throw new NotSupportedException($"no ONNX scalar constant of {dtype}"),
        };
        return new P.TensorProto { DataType = ElementType(dtype), RawData = ByteString.CopyFrom(bytes) };
    }

    /// <summary>
    /// The tensor an initializer holds (raw_data or the typed fields: float_data, int64_data, int32_data, double_data).
    /// Throws naming the initializer when its data does not fit its dims or lies in an external file.
    /// </summary>
    public static Tensor FromProto(P.TensorProto proto)
    {
        ArgumentNullException.ThrowIfNull(proto);
        var dims = proto.Dims.ToArray();
        if (dims.Any(d => d < 0)) throw new InvalidDataException($"initializer '{proto.Name}' has a negative dimension [{string.Join(", ", dims)}]");
        if (proto.DataLocation == P.TensorProto.Types.DataLocation.External)
            throw new NotSupportedException($"initializer '{proto.Name}' keeps its data in an external file; only self-contained models are read");
        var dtype = DTypeOf(proto.DataType);
        long count = 1;
        foreach (var d in dims) count = checked(count * d);
        byte[] bytes;
        if (!proto.RawData.IsEmpty || count == 0) bytes = proto.RawData.ToByteArray();
        else if (proto.FloatData.Count > 0) bytes = Bytes(proto.FloatData.ToArray());
        else if (proto.DoubleData.Count > 0) bytes = Bytes(proto.DoubleData.ToArray());
        else if (proto.Int64Data.Count > 0) bytes = Bytes(proto.Int64Data.ToArray());
        else if (proto.Int32Data.Count > 0) bytes = Int32Field(proto.Int32Data.ToArray(), dtype, proto.Name);
        else bytes = Array.Empty<byte>();
        long need = count * dtype.ElementSize();
        if (bytes.Length != need)
            throw new InvalidDataException($"initializer '{proto.Name}' holds {bytes.Length} bytes; [{string.Join(", ", dims)}] of {dtype} needs {need}");
        return Tensor.FromBytes(bytes, dtype, dims);
    }

    private static byte[] Bytes<T>(T[] values) where T : unmanaged
    {
        var span = System.Runtime.InteropServices.MemoryMarshal.AsBytes(values.AsSpan());
        return span.ToArray();
    }

    private static byte[] Int32Field(int[] values, DType dtype, string name) => dtype switch
    {
        DType.Int32 => Bytes(values),
        DType.Int16 => Bytes(values.Select(v => (short)v).ToArray()),
        DType.Float16 or DType.BFloat16 => Bytes(values.Select(v => (ushort)v).ToArray()),
        DType.Int8 or DType.UInt8 or DType.Bool => values.Select(v => (byte)v).ToArray(),
        _ => throw new InvalidDataException($"initializer '{name}' stores {dtype} in int32_data"),
    };
}
