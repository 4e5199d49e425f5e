using System.Buffers.Binary;
using MLNet.Attention.Torch;
using MLNet.Attention.Torch.Serialization;

namespace MLNet.Attention.Tests.Serialization;

[TestClass]
public sealed class RawTensorTests
{
    [TestMethod]
    public void ConstructorChecksDataLengthAgainstShapeAndDType()
    {
        var ok = new RawTensor(DType.Int16, [2, 3], new byte[12]);
        Assert.AreEqual(6L, ok.ElementCount);
        Assert.AreEqual(2, ok.Rank);

        var e = Assert.ThrowsExactly<ArgumentException>(() => new RawTensor(DType.Float32, [2, 3], new byte[20]));
        SerializationTestUtil.AssertMessage(e, "24 bytes", "got 20");
        Assert.ThrowsExactly<ArgumentException>(() => new RawTensor(DType.Float32, [-1], []));

        var scalar = new RawTensor(DType.Float64, [], new byte[8]);
        Assert.AreEqual(1L, scalar.ElementCount);
        var empty = new RawTensor(DType.Float64, [0, 5], []);
        Assert.AreEqual(0L, empty.ElementCount);
    }

    [TestMethod]
    public void ShapeIsCopied()
    {
        long[] shape = [2, 2];
        var t = new RawTensor(DType.UInt8, shape, new byte[4]);
        shape[0] = 9;
        Assert.AreEqual(2L, t.Shape[0]);
    }

    [TestMethod]
    public void ToFloatArrayConvertsEveryFloatingDType()
    {
        float[] values = [1f, -2.5f, 0.15625f, 384f];

        var f32 = RawTensor.FromFloats(values, 2, 2);
        CollectionAssert.AreEqual(values, f32.ToFloatArray());

        var f64Bytes = new byte[values.Length * 8];
        var f16Bytes = new byte[values.Length * 2];
        var bf16Bytes = new byte[values.Length * 2];
        for (int i = 0; i < values.Length; i++)
        {
            BinaryPrimitives.WriteDoubleLittleEndian(f64Bytes.AsSpan(i * 8), values[i]);
            BinaryPrimitives.WriteHalfLittleEndian(f16Bytes.AsSpan(i * 2), (Half)values[i]);
            BinaryPrimitives.WriteUInt16LittleEndian(bf16Bytes.AsSpan(i * 2), (ushort)(BitConverter.SingleToUInt32Bits(values[i]) >> 16));
        }
        CollectionAssert.AreEqual(values, new RawTensor(DType.Float64, [4], f64Bytes).ToFloatArray());
        CollectionAssert.AreEqual(values, new RawTensor(DType.Float16, [4], f16Bytes).ToFloatArray());
        // Each value needs at most 8 significant bits, so it is exact in float16 and bfloat16 alike.
        CollectionAssert.AreEqual(values, new RawTensor(DType.BFloat16, [4], bf16Bytes).ToFloatArray());
        Assert.AreEqual((ushort)0x3F80, BinaryPrimitives.ReadUInt16LittleEndian(bf16Bytes));

        Assert.ThrowsExactly<NotSupportedException>(() => new RawTensor(DType.Int32, [1], new byte[4]).ToFloatArray());
    }

    [TestMethod]
    public void FromFloatsDefaultsToOneDimensionAndChecksTheShape()
    {
        var t = RawTensor.FromFloats([1f, 2f, 3f]);
        CollectionAssert.AreEqual(new long[] { 3 }, t.Shape);
        Assert.AreEqual(DType.Float32, t.DType);
        Assert.AreEqual(2f, BinaryPrimitives.ReadSingleLittleEndian(t.Data.AsSpan(4)));
        Assert.ThrowsExactly<ArgumentException>(() => RawTensor.FromFloats([1f, 2f, 3f], 2, 2));
    }
}
