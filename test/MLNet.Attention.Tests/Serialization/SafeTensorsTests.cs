using System.Buffers.Binary;
using System.Text;
using System.Text.Json;
using MLNet.Attention.Torch;
using MLNet.Attention.Torch.Serialization;

namespace MLNet.Attention.Tests.Serialization;

[TestClass]
public sealed class SafeTensorsTests
{
    private string _dir = "";

    [TestInitialize]
    public void Init() => _dir = SerializationTestUtil.NewTempDir();

    [TestCleanup]
    public void Cleanup() => Directory.Delete(_dir, recursive: true);

    private static RawTensor RandomTensor(DType dtype, long[] shape, int seed)
    {
        long count = shape.Aggregate(1L, (a, b) => a * b);
        var data = new byte[count * dtype.ElementSize()];
        new Random(seed).NextBytes(data);
        if (dtype == DType.Bool)
        {
            for (int i = 0; i < data.Length; i++)
            {
                data[i] &= 1;
            }
        }
        return new RawTensor(dtype, shape, data);
    }

    private static List<KeyValuePair<string, RawTensor>> AllDTypes()
    {
        DType[] dtypes = [DType.Float64, DType.Float32, DType.Float16, DType.BFloat16, DType.Int64, DType.Int32, DType.Int16, DType.Int8, DType.UInt8, DType.Bool];
        var list = new List<KeyValuePair<string, RawTensor>>();
        int seed = 1;
        foreach (var d in dtypes)
        {
            list.Add(new($"t.{d}", RandomTensor(d, [2, 3], seed++)));
        }
        list.Add(new("scalar", RandomTensor(DType.Float32, [], seed++)));
        list.Add(new("empty", RandomTensor(DType.Float32, [0, 4], seed++)));
        list.Add(new("odd/name \"quoted\" é", RandomTensor(DType.UInt8, [3], seed++)));
        list.Add(new("rank4", RandomTensor(DType.BFloat16, [2, 1, 3, 2], seed)));
        return list;
    }

    private static void AssertSameList(IReadOnlyList<KeyValuePair<string, RawTensor>> expected, IReadOnlyList<KeyValuePair<string, RawTensor>> actual)
    {
        CollectionAssert.AreEqual(expected.Select(kv => kv.Key).ToList(), actual.Select(kv => kv.Key).ToList());
        for (int i = 0; i < expected.Count; i++)
        {
            SerializationTestUtil.AssertSameTensor(expected[i].Value, actual[i].Value, expected[i].Key);
        }
    }

    [TestMethod]
    public void EveryDTypeRoundTripsThroughAFileWithMetadata()
    {
        var tensors = AllDTypes();
        var metadata = new Dictionary<string, string> { ["format"] = "pt", ["note"] = "ünïcode \"and\" quotes" };
        string path = Path.Combine(_dir, "all.safetensors");
        SafeTensors.Write(path, tensors, metadata);

        var read = SafeTensors.Read(path, out var readMetadata);
        AssertSameList(tensors, read);
        CollectionAssert.AreEquivalent(metadata.ToList(), readMetadata.ToList());

        // The layout is the standard one: LE header size, space-padded JSON to a multiple of 8, data.
        byte[] bytes = File.ReadAllBytes(path);
        ulong headerLength = BinaryPrimitives.ReadUInt64LittleEndian(bytes);
        Assert.AreEqual(0UL, headerLength % 8);
        using var doc = JsonDocument.Parse(bytes.AsMemory(8, (int)headerLength));
        Assert.AreEqual("pt", doc.RootElement.GetProperty("__metadata__").GetProperty("format").GetString());
        Assert.AreEqual("F16", doc.RootElement.GetProperty("t.Float16").GetProperty("dtype").GetString());
        Assert.AreEqual("BOOL", doc.RootElement.GetProperty("t.Bool").GetProperty("dtype").GetString());
        long dataBytes = tensors.Sum(kv => kv.Value.Data.LongLength);
        Assert.AreEqual(8 + (long)headerLength + dataBytes, bytes.LongLength);
    }

    [TestMethod]
    public void ReadWithoutMetadataGivesAnEmptyDictionary()
    {
        string path = Path.Combine(_dir, "plain.safetensors");
        SafeTensors.Write(path, AllDTypes().Take(2));
        var read = SafeTensors.Read(path, out var metadata);
        Assert.AreEqual(2, read.Count);
        Assert.AreEqual(0, metadata.Count);
    }

    [TestMethod]
    public void RoundTripsThroughANonSeekableStream()
    {
        var tensors = AllDTypes();
        var buffer = new MemoryStream();
        SafeTensors.Write(buffer, tensors, new Dictionary<string, string> { ["k"] = "v" });
        var read = SafeTensors.Read(new ForwardOnlyStream(buffer.ToArray()), out var metadata);
        AssertSameList(tensors, read);
        Assert.AreEqual("v", metadata["k"]);
    }

    [TestMethod]
    public void ReadsTheFileWrittenByThePythonReferenceWriter()
    {
        var read = SafeTensors.Read(SerializationTestUtil.Fixture("expected.safetensors"), out var metadata);
        Assert.AreEqual("pt", metadata["format"]);
        Assert.AreEqual("make_serialization_fixtures.py", metadata["source"]);
        var byName = read.ToDictionary(kv => kv.Key, kv => kv.Value);
        Assert.AreEqual(read.Count, byName.Count);

        Assert.AreEqual("bare.conv.weight", read[0].Key);
        CollectionAssert.AreEqual(new long[] { 4, 3, 3, 3 }, byName["bare.conv.weight"].Shape);
        CollectionAssert.AreEqual(new long[] { 1 }, SerializationTestUtil.Longs(byName["bare.bn.num_batches_tracked"]));
        CollectionAssert.AreEqual(new long[] { -3, 0, 1L << 40, -(1L << 62) }, SerializationTestUtil.Longs(byName["dtypes.i64"]));
        CollectionAssert.AreEqual(new byte[] { 250, 251, 252, 253, 254, 255 }, byName["dtypes.u8"].Data);
        CollectionAssert.AreEqual(new byte[] { 1, 0, 1, 1 }, byName["dtypes.bool"].Data);
        Assert.AreEqual(DType.Bool, byName["dtypes.bool"].DType);
        Assert.AreEqual(DType.BFloat16, byName["dtypes.bf16"].DType);
        Assert.AreEqual(DType.Int8, byName["dtypes.i8"].DType);
        CollectionAssert.AreEqual(new byte[] { 0x80, 0xFF, 0x7F }, byName["dtypes.i8"].Data);
        var i32 = byName["dtypes.i32"];
        Assert.AreEqual(int.MinValue, BinaryPrimitives.ReadInt32LittleEndian(i32.Data.AsSpan(12)));
        var scalar = byName["dtypes.scalar"];
        Assert.AreEqual(0, scalar.Rank);
        CollectionAssert.AreEqual(new[] { 3.5f }, scalar.ToFloatArray());
        CollectionAssert.AreEqual(new long[] { 0, 3 }, byName["dtypes.empty"].Shape);
        Assert.AreEqual(0, byName["dtypes.empty"].Data.Length);
        // BatchNorm's running variance after one training step is positive and not all ones.
        float[] runningVar = byName["bare.bn.running_var"].ToFloatArray();
        Assert.IsTrue(runningVar.All(v => v > 0) && runningVar.Any(v => v != 1f));
    }

    [TestMethod]
    public void WriterMatchesThePythonReferenceWriterByteForByte()
    {
        string fixture = SerializationTestUtil.Fixture("expected.safetensors");
        var read = SafeTensors.Read(fixture, out var metadata);
        string path = Path.Combine(_dir, "rewritten.safetensors");
        SafeTensors.Write(path, read, metadata);
        CollectionAssert.AreEqual(File.ReadAllBytes(fixture), File.ReadAllBytes(path));
    }

    [TestMethod]
    public void WriteRejectsDuplicateAndReservedNames()
    {
        var t = RawTensor.FromFloats([1f]);
        string path = Path.Combine(_dir, "dup.safetensors");
        var e = Assert.ThrowsExactly<ArgumentException>(() => SafeTensors.Write(path, [new("a", t), new("a", t)]));
        SerializationTestUtil.AssertMessage(e, "duplicate tensor name 'a'");
        Assert.ThrowsExactly<ArgumentException>(() => SafeTensors.Write(path, [new("__metadata__", t)]));
        Assert.IsFalse(File.Exists(path));
        Assert.AreEqual(0, Directory.GetFiles(_dir).Length, "no temporary file is left behind");
    }

    private static IEnumerable<KeyValuePair<string, RawTensor>> ThrowsMidway(RawTensor t)
    {
        yield return new("first", t);
        throw new InvalidOperationException("producer failed");
    }

    [TestMethod]
    public void AFailedWriteLeavesThePreviousFileIntact()
    {
        string path = Path.Combine(_dir, "model.safetensors");
        SafeTensors.Write(path, AllDTypes());
        byte[] before = File.ReadAllBytes(path);

        var e = Assert.ThrowsExactly<InvalidOperationException>(() => SafeTensors.Write(path, ThrowsMidway(RawTensor.FromFloats([1f, 2f]))));
        Assert.AreEqual("producer failed", e.Message);
        CollectionAssert.AreEqual(before, File.ReadAllBytes(path));
        CollectionAssert.AreEqual(new[] { path }, Directory.GetFiles(_dir), "the temporary file is removed");

        // A successful write replaces the file, again without leftovers.
        SafeTensors.Write(path, [new("only", RawTensor.FromFloats([5f]))]);
        var read = SafeTensors.Read(path);
        Assert.AreEqual("only", read.Single().Key);
        CollectionAssert.AreEqual(new[] { path }, Directory.GetFiles(_dir));
    }

    // ---- malformed input ----

    private static byte[] Make(string header, byte[]? data = null, ulong? claimedLength = null)
    {
        byte[] json = Encoding.UTF8.GetBytes(header);
        var bytes = new byte[8 + json.Length + (data?.Length ?? 0)];
        BinaryPrimitives.WriteUInt64LittleEndian(bytes, claimedLength ?? (ulong)json.Length);
        json.CopyTo(bytes, 8);
        data?.CopyTo(bytes, 8 + json.Length);
        return bytes;
    }

    private InvalidDataException ReadFails(byte[] content, params string[] reason)
    {
        string path = Path.Combine(_dir, $"bad-{Guid.NewGuid():N}.safetensors");
        File.WriteAllBytes(path, content);
        var e = Assert.ThrowsExactly<InvalidDataException>(() => SafeTensors.Read(path));
        SerializationTestUtil.AssertMessage(e, [path, .. reason]);
        return e;
    }

    [TestMethod]
    public void ShortFilesAreRejected()
    {
        ReadFails([], "shorter than 8 bytes", "0 bytes");
        ReadFails([1, 2, 3, 4, 5], "shorter than 8 bytes");
    }

    [TestMethod]
    public void HeaderLengthLargerThanTheFileOrAbsurdIsRejected()
    {
        ReadFails(Make("{}", claimedLength: 4096), "header length 4096 is larger than the rest of the file");
        ReadFails(Make("{}", claimedLength: 1UL << 40), "absurd");
        ReadFails(Make("{}", claimedLength: ulong.MaxValue), "absurd");
    }

    [TestMethod]
    public void HeaderThatIsNotAJsonObjectIsRejected()
    {
        ReadFails(Make("hello!!!"), "not valid JSON");
        ReadFails(Make("{\"a\":{\"dtype\":\"F32\",}}"), "not valid JSON");
        ReadFails(Make("[1, 2]  "), "not a JSON object");
        ReadFails(Make("{\"a\": 3}"), "tensor 'a'", "not an object");
    }

    [TestMethod]
    public void UnknownDTypeIsRejected()
    {
        ReadFails(Make("{\"w\":{\"dtype\":\"F8_E4M3\",\"shape\":[1],\"data_offsets\":[0,1]}}", [0]), "tensor 'w'", "unknown dtype 'F8_E4M3'");
    }

    [TestMethod]
    public void OffsetsThatDisagreeWithTheShapeAreRejected()
    {
        ReadFails(Make("{\"w\":{\"dtype\":\"F32\",\"shape\":[2],\"data_offsets\":[0,4]}}", new byte[4]),
            "tensor 'w'", "needs 8 bytes", "span 4");
        ReadFails(Make("{\"w\":{\"dtype\":\"F32\",\"shape\":[-2],\"data_offsets\":[0,4]}}", new byte[4]), "tensor 'w'", "non-negative");
        ReadFails(Make("{\"w\":{\"dtype\":\"F32\",\"shape\":[1],\"data_offsets\":[4,0]}}", new byte[4]), "end before they begin");
        ReadFails(Make("{\"w\":{\"dtype\":\"F32\",\"shape\":[1]}}", new byte[4]), "no \"data_offsets\"");
    }

    [TestMethod]
    public void OverlappingGappedOrOutOfRangeOffsetsAreRejected()
    {
        const string Two = "{{\"a\":{{\"dtype\":\"U8\",\"shape\":[4],\"data_offsets\":[{0},{1}]}},\"b\":{{\"dtype\":\"U8\",\"shape\":[4],\"data_offsets\":[{2},{3}]}}}}";
        ReadFails(Make(string.Format(Two, 0, 4, 2, 6), new byte[8]), "'a' [0, 4] and 'b' [2, 6] overlap");
        ReadFails(Make(string.Format(Two, 0, 4, 6, 10), new byte[10]), "do not cover the data", "[4, 6)");
        ReadFails(Make(string.Format(Two, 0, 4, 4, 8), new byte[7]), "truncated", "need 8 bytes", "only 7");
        ReadFails(Make(string.Format(Two, 0, 4, 4, 8), new byte[12]), "do not cover the data", "12 bytes follow");
        ReadFails(Make(string.Format(Two, 4, 8, 8, 12), new byte[12]), "do not cover the data", "[0, 4)");
    }

    [TestMethod]
    public void DuplicateNamesAndBadMetadataAreRejected()
    {
        ReadFails(Make("{\"a\":{\"dtype\":\"U8\",\"shape\":[1],\"data_offsets\":[0,1]},\"a\":{\"dtype\":\"U8\",\"shape\":[1],\"data_offsets\":[1,2]}}", new byte[2]),
            "duplicate tensor name 'a'");
        ReadFails(Make("{\"__metadata__\":{\"epoch\":3}}"), "metadata entry 'epoch'", "not a string");
    }

    [TestMethod]
    public void TruncatedFilesAreRejectedWhereverTheyAreCut()
    {
        var buffer = new MemoryStream();
        SafeTensors.Write(buffer, AllDTypes());
        byte[] good = buffer.ToArray();
        int header = 8 + (int)BinaryPrimitives.ReadUInt64LittleEndian(good);

        ReadFails(good[..3], "shorter than 8 bytes");
        ReadFails(good[..8], "larger than the rest of the file");
        ReadFails(good[..(header - 1)], "larger than the rest of the file");
        ReadFails(good[..header], "truncated");
        ReadFails(good[..(header + 10)], "truncated");
        ReadFails(good[..^1], "truncated");
    }

    [TestMethod]
    public void StreamErrorsSayStream()
    {
        var e = Assert.ThrowsExactly<InvalidDataException>(() => SafeTensors.Read(new MemoryStream([1, 2, 3])));
        SerializationTestUtil.AssertMessage(e, "stream", "shorter than 8 bytes");

        var buffer = new MemoryStream();
        SafeTensors.Write(buffer, AllDTypes());
        byte[] good = buffer.ToArray();
        e = Assert.ThrowsExactly<InvalidDataException>(() => SafeTensors.Read(new ForwardOnlyStream(good[..^3])));
        SerializationTestUtil.AssertMessage(e, "stream", "truncated", "rank4");
        e = Assert.ThrowsExactly<InvalidDataException>(() => SafeTensors.Read(new ForwardOnlyStream([.. good, 0])));
        SerializationTestUtil.AssertMessage(e, "stream", "do not cover the data");
    }

    /// <summary>A stream that can only be read forward, like a network stream.</summary>
    private sealed class ForwardOnlyStream(byte[] data) : Stream
    {
        private readonly MemoryStream _inner = new(data);

        public override bool CanRead => true;
        public override bool CanSeek => false;
        public override bool CanWrite => false;
        public override long Length => throw new NotSupportedException();
        public override long Position { get => throw new NotSupportedException(); set => throw new NotSupportedException(); }
        public override void Flush() { }
        public override int Read(byte[] buffer, int offset, int count) => _inner.Read(buffer, offset, Math.Min(count, 7));
        public override long Seek(long offset, SeekOrigin origin) => throw new NotSupportedException();
        public override void SetLength(long value) => throw new NotSupportedException();
        public override void Write(byte[] buffer, int offset, int count) => throw new NotSupportedException();
    }
}
