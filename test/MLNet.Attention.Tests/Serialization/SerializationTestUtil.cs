using System.Buffers.Binary;
using System.IO.Compression;
using System.Text;
using MLNet.Attention.Torch;
using MLNet.Attention.Torch.Serialization;

namespace MLNet.Attention.Tests.Serialization;

/// <summary>Fixture paths, temp folders and assertions shared by the serialization tests.</summary>
internal static class SerializationTestUtil
{
    public static string Fixture(string name)
    {
        string path = Path.Combine(AppContext.BaseDirectory, "fixtures", "serialization", name);
        Assert.IsTrue(File.Exists(path), $"fixture {path} is missing: run test/reference/make_serialization_fixtures.py");
        return path;
    }

    public static string NewTempDir()
    {
        string dir = Path.Combine(Path.GetTempPath(), "mlnet-serialization-" + Guid.NewGuid().ToString("N"));
        Directory.CreateDirectory(dir);
        return dir;
    }

    public static void AssertMessage(Exception e, params string[] parts)
    {
        foreach (string part in parts)
        {
            Assert.IsTrue(e.Message.Contains(part, StringComparison.Ordinal), $"message should contain \"{part}\" but is: {e.Message}");
        }
    }

    public static void AssertSameTensor(RawTensor expected, RawTensor actual, string name)
    {
        Assert.AreEqual(expected.DType, actual.DType, $"dtype of {name}");
        Assert.AreEqual(string.Join(",", expected.Shape), string.Join(",", actual.Shape), $"shape of {name}");
        Assert.AreEqual(expected.Data.Length, actual.Data.Length, $"byte count of {name}");
        Assert.IsTrue(expected.Data.AsSpan().SequenceEqual(actual.Data), $"bytes of {name} differ");
    }

    public static long[] Longs(RawTensor t)
    {
        Assert.AreEqual(DType.Int64, t.DType);
        var result = new long[t.ElementCount];
        for (int i = 0; i < result.Length; i++)
        {
            result[i] = BinaryPrimitives.ReadInt64LittleEndian(t.Data.AsSpan(i * 8, 8));
        }
        return result;
    }

    /// <summary>Writes a torch.save-like zip: entries named "archive/&lt;name&gt;" with the given bytes.</summary>
    public static void WriteZip(string path, params (string Name, byte[] Data)[] entries)
    {
        using var file = File.Create(path);
        using var zip = new ZipArchive(file, ZipArchiveMode.Create);
        foreach (var (name, data) in entries)
        {
            var entry = zip.CreateEntry("archive/" + name, CompressionLevel.NoCompression);
            using var s = entry.Open();
            s.Write(data);
        }
    }

    public static byte[] Floats(params float[] values)
    {
        var bytes = new byte[values.Length * 4];
        for (int i = 0; i < values.Length; i++)
        {
            BinaryPrimitives.WriteSingleLittleEndian(bytes.AsSpan(i * 4), values[i]);
        }
        return bytes;
    }
}

/// <summary>Hand-assembles pickles (protocol 2) for the checkpoint reader's edge cases.</summary>
internal sealed class PickleBuilder
{
    private readonly List<byte> _bytes = [0x80, 0x02];

    public byte[] ToArray() => [.. _bytes];

    public PickleBuilder Op(params byte[] ops)
    {
        _bytes.AddRange(ops);
        return this;
    }

    public PickleBuilder Mark() => Op((byte)'(');

    public PickleBuilder Tuple() => Op((byte)'t');

    public PickleBuilder EmptyDict() => Op((byte)'}');

    public PickleBuilder EmptyTuple() => Op((byte)')');

    public PickleBuilder SetItems() => Op((byte)'u');

    public PickleBuilder Reduce() => Op((byte)'R');

    public PickleBuilder Stop() => Op((byte)'.');

    public PickleBuilder Global(string module, string name)
    {
        _bytes.Add((byte)'c');
        _bytes.AddRange(Encoding.ASCII.GetBytes(module + "\n" + name + "\n"));
        return this;
    }

    public PickleBuilder Str(string s)
    {
        byte[] utf8 = Encoding.UTF8.GetBytes(s);
        _bytes.Add((byte)'X');
        _bytes.AddRange(BitConverter.GetBytes(utf8.Length));
        _bytes.AddRange(utf8);
        return this;
    }

    public PickleBuilder Int(int value)
    {
        _bytes.Add((byte)'J');
        _bytes.AddRange(BitConverter.GetBytes(value));
        return this;
    }

    public PickleBuilder Ints(params int[] values)
    {
        Mark();
        foreach (int v in values)
        {
            Int(v);
        }
        return Tuple();
    }

    /// <summary>Pushes torch._utils._rebuild_tensor_v2(storage key, offset, size, stride, False, OrderedDict()).</summary>
    public PickleBuilder Tensor(string storageType, string key, int numel, int offset, int[] size, int[] stride)
    {
        Global("torch._utils", "_rebuild_tensor_v2").Mark();
        Mark().Str("storage").Global("torch", storageType).Str(key).Str("cpu").Int(numel).Tuple().Op((byte)'Q');
        Int(offset).Ints(size).Ints(stride).Op(0x89);
        Global("collections", "OrderedDict").EmptyTuple().Reduce();
        return Tuple().Reduce();
    }
}
