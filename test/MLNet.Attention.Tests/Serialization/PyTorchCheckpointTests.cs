using System.Buffers.Binary;
using System.Text;
using MLNet.Attention.Torch;
using MLNet.Attention.Torch.Serialization;

namespace MLNet.Attention.Tests.Serialization;

[TestClass]
public sealed class PyTorchCheckpointTests
{
    private static readonly string[] TinyNetKeys =
    [
        "conv.weight", "conv.bias", "bn.weight", "bn.bias", "bn.running_mean", "bn.running_var",
        "bn.num_batches_tracked", "fc.weight", "fc.bias",
    ];

    private string _dir = "";

    [TestInitialize]
    public void Init() => _dir = SerializationTestUtil.NewTempDir();

    [TestCleanup]
    public void Cleanup() => Directory.Delete(_dir, recursive: true);

    private static List<KeyValuePair<string, RawTensor>> Expected(string prefix) =>
        SafeTensors.Read(SerializationTestUtil.Fixture("expected.safetensors"))
            .Where(kv => kv.Key.StartsWith(prefix, StringComparison.Ordinal))
            .Select(kv => new KeyValuePair<string, RawTensor>(kv.Key[prefix.Length..], kv.Value))
            .ToList();

    private static void AssertMatchesExpected(string prefix, IReadOnlyList<KeyValuePair<string, RawTensor>> actual)
    {
        var expected = Expected(prefix);
        Assert.IsTrue(expected.Count > 0);
        CollectionAssert.AreEqual(expected.Select(kv => kv.Key).ToList(), actual.Select(kv => kv.Key).ToList());
        for (int i = 0; i < expected.Count; i++)
        {
            SerializationTestUtil.AssertSameTensor(expected[i].Value, actual[i].Value, expected[i].Key);
        }
    }

    [TestMethod]
    public void BareStateDictMatchesTheReference()
    {
        var sd = PyTorchCheckpoint.LoadStateDict(SerializationTestUtil.Fixture("bare_state_dict.pth"));
        CollectionAssert.AreEqual(TinyNetKeys, sd.Select(kv => kv.Key).ToList());
        AssertMatchesExpected("bare.", sd);
        var byName = sd.ToDictionary(kv => kv.Key, kv => kv.Value);
        Assert.AreEqual(DType.Int64, byName["bn.num_batches_tracked"].DType);
        Assert.AreEqual(0, byName["bn.num_batches_tracked"].Rank);
        CollectionAssert.AreEqual(new long[] { 1 }, SerializationTestUtil.Longs(byName["bn.num_batches_tracked"]));
        CollectionAssert.AreEqual(new long[] { 2, 4 }, byName["fc.weight"].Shape);
    }

    [TestMethod]
    public void BareStateDictLoadsAsAnOrderedDict()
    {
        // The state dict's _metadata (set by BUILD on the OrderedDict) is ignored.
        var root = PyTorchCheckpoint.LoadObject(SerializationTestUtil.Fixture("bare_state_dict.pth"));
        var dict = root as PickleDict;
        Assert.IsNotNull(dict);
        Assert.AreEqual("collections.OrderedDict", dict.TypeName);
        CollectionAssert.AreEqual(TinyNetKeys, dict.Keys.ToList());
        Assert.IsInstanceOfType<RawTensor>(dict["conv.weight"]);
    }

    [TestMethod]
    public void WrappedStateDictIsFoundAndModulePrefixStripped()
    {
        string path = SerializationTestUtil.Fixture("wrapped_state_dict.pth");
        var sd = PyTorchCheckpoint.LoadStateDict(path);
        AssertMatchesExpected("wrapped.", sd);
        CollectionAssert.AreEqual(TinyNetKeys, sd.Select(kv => kv.Key).ToList());

        var raw = PyTorchCheckpoint.LoadStateDict(path, stripModulePrefix: false);
        CollectionAssert.AreEqual(TinyNetKeys.Select(k => "module." + k).ToList(), raw.Select(kv => kv.Key).ToList());
        for (int i = 0; i < sd.Count; i++)
        {
            SerializationTestUtil.AssertSameTensor(sd[i].Value, raw[i].Value, sd[i].Key);
        }
    }

    [TestMethod]
    public void WrappedCheckpointKeepsItsOtherEntriesAndOpaqueObjects()
    {
        var root = (PickleDict)PyTorchCheckpoint.LoadObject(SerializationTestUtil.Fixture("wrapped_state_dict.pth"))!;
        CollectionAssert.AreEqual(new object[] { "state_dict", "epoch", "best_acc", "arch", "args" }, root.Keys.ToList());
        Assert.AreEqual(7L, root["epoch"]);
        Assert.AreEqual(0.5, root["best_acc"]);
        Assert.AreEqual("tiny", root["arch"]);
        // argparse.Namespace is not on the allow-list: it is recorded, not executed.
        var args = root["args"] as PickleObject;
        Assert.IsNotNull(args);
        Assert.AreEqual("argparse.Namespace", args.TypeName);
        var state = args.State as PickleDict;
        Assert.IsNotNull(state);
        Assert.AreEqual(0.1, state["lr"]);
        Assert.AreEqual("tiny", state["arch"]);
    }

    [TestMethod]
    public void EveryDTypeAndViewMatchesTheReference()
    {
        var sd = PyTorchCheckpoint.LoadStateDict(SerializationTestUtil.Fixture("dtypes.pth"));
        AssertMatchesExpected("dtypes.", sd);
        var t = sd.ToDictionary(kv => kv.Key, kv => kv.Value);

        Assert.AreEqual(DType.Float16, t["f16"].DType);
        Assert.AreEqual(DType.BFloat16, t["bf16"].DType);
        Assert.AreEqual(DType.Bool, t["bool"].DType);
        Assert.AreEqual(DType.Float32, t["param"].DType);
        CollectionAssert.AreEqual(new long[] { 4, 3 }, t["transposed"].Shape);
        CollectionAssert.AreEqual(new long[] { 5, 2 }, t["half_transposed"].Shape);
        Assert.AreEqual(0, t["scalar"].Rank);
        CollectionAssert.AreEqual(new[] { 3.5f }, t["scalar"].ToFloatArray());
        CollectionAssert.AreEqual(new long[] { 0, 3 }, t["empty"].Shape);

        // Views of one storage agree with the base tensor element by element.
        float[] b = t["shared_base"].ToFloatArray(); // 4 x 6
        float[] rows = t["shared_rows"].ToFloatArray(); // base[1:] : 3 x 6
        float[] cols = t["shared_cols"].ToFloatArray(); // base[:, ::2] : 4 x 3
        CollectionAssert.AreEqual(b[6..], rows);
        for (int i = 0; i < 4; i++)
        {
            for (int j = 0; j < 3; j++)
            {
                Assert.AreEqual(b[(i * 6) + (2 * j)], cols[(i * 3) + j]);
            }
        }
        Assert.AreEqual(b[(2 * 6) + 3], t["shared_elem"].ToFloatArray().Single());
        // The expanded tensor repeats each row's value along the stride-0 dimension.
        float[] expanded = t["expanded"].ToFloatArray();
        for (int i = 0; i < 3; i++)
        {
            Assert.IsTrue(expanded.Skip(i * 4).Take(4).All(v => v == expanded[i * 4]));
        }
        Assert.AreNotEqual(expanded[0], expanded[4]);
    }

    [TestMethod]
    public void SharedStoragesDoNotAliasTheirTensors()
    {
        var t = PyTorchCheckpoint.LoadStateDict(SerializationTestUtil.Fixture("dtypes.pth")).ToDictionary(kv => kv.Key, kv => kv.Value);
        byte rowsFirst = t["shared_rows"].Data[0];
        t["shared_base"].Data[24] ^= 0xFF; // element [1, 0] of the base
        Assert.AreEqual(rowsFirst, t["shared_rows"].Data[0]);
    }

    // ---- hand-made checkpoints: positive control, then each malformation ----

    private string Zip(params (string Name, byte[] Data)[] entries)
    {
        string path = Path.Combine(_dir, $"ckpt-{Guid.NewGuid():N}.pth");
        SerializationTestUtil.WriteZip(path, entries);
        return path;
    }

    private static byte[] StateDictPickle(Action<PickleBuilder> value)
    {
        var p = new PickleBuilder().EmptyDict().Mark().Str("w");
        value(p);
        return p.SetItems().Stop().ToArray();
    }

    private static InvalidDataException LoadFails(string path, params string[] reason)
    {
        var e = Assert.ThrowsExactly<InvalidDataException>(() => PyTorchCheckpoint.LoadStateDict(path));
        SerializationTestUtil.AssertMessage(e, [path, .. reason]);
        return e;
    }

    [TestMethod]
    public void HandMadeCheckpointWithAStridedViewLoads()
    {
        // Storage 0..5; the view has size (3, 2), stride (1, 3), offset 0: the transpose of [[0,1,2],[3,4,5]].
        string path = Zip(
            ("data.pkl", StateDictPickle(p => p.Tensor("FloatStorage", "0", 6, 0, [3, 2], [1, 3]))),
            ("data/0", SerializationTestUtil.Floats(0, 1, 2, 3, 4, 5)),
            ("byteorder", Encoding.ASCII.GetBytes("little")));
        var sd = PyTorchCheckpoint.LoadStateDict(path);
        Assert.AreEqual("w", sd.Single().Key);
        CollectionAssert.AreEqual(new long[] { 3, 2 }, sd[0].Value.Shape);
        CollectionAssert.AreEqual(new[] { 0f, 3f, 1f, 4f, 2f, 5f }, sd[0].Value.ToFloatArray());
    }

    [TestMethod]
    public void AStorageSavedOnItsOwnComesOutAsAOneDimensionalTensor()
    {
        // {'w': tensor over all of storage 0, 's': storage 0 itself}: both come out right, not aliased.
        byte[] pickle = new PickleBuilder().EmptyDict().Mark()
            .Str("w").Tensor("FloatStorage", "0", 3, 0, [3], [1])
            .Str("s").Mark().Str("storage").Global("torch", "FloatStorage").Str("0").Str("cpu").Int(3).Tuple().Op((byte)'Q')
            .SetItems().Stop().ToArray();
        string path = Zip(("data.pkl", pickle), ("data/0", SerializationTestUtil.Floats(7, 8, 9)));
        var root = (PickleDict)PyTorchCheckpoint.LoadObject(path)!;
        var w = (RawTensor)root["w"]!;
        var s = (RawTensor)root["s"]!;
        CollectionAssert.AreEqual(new[] { 7f, 8f, 9f }, w.ToFloatArray());
        CollectionAssert.AreEqual(new[] { 7f, 8f, 9f }, s.ToFloatArray());
        CollectionAssert.AreEqual(new long[] { 3 }, s.Shape);
        Assert.AreNotSame(w.Data, s.Data);
    }

    [TestMethod]
    public void UnsupportedTensorFormInAStateDictIsAnErrorNotASilentSkip()
    {
        byte[] pickle = StateDictPickle(p => p.Global("torch._utils", "_rebuild_qtensor").Mark().Int(1).Tuple().Reduce());
        LoadFails(Zip(("data.pkl", pickle)), "state dict entry 'w'", "torch._utils._rebuild_qtensor", "does not support");
    }

    [TestMethod]
    public void EmptyRandomAndLegacyFilesAreRejected()
    {
        string empty = Path.Combine(_dir, "empty.pth");
        File.WriteAllBytes(empty, []);
        LoadFails(empty, "empty", "not a PyTorch checkpoint");

        var random = new byte[1000];
        new Random(42).NextBytes(random);
        random[0] = 0x17;
        string noise = Path.Combine(_dir, "noise.pth");
        File.WriteAllBytes(noise, random);
        LoadFails(noise, "not a PyTorch checkpoint");

        // torch.save(..., _use_new_zipfile_serialization=False) starts with a pickled magic number.
        string legacy = Path.Combine(_dir, "legacy.pth");
        File.WriteAllBytes(legacy, [0x80, 0x02, 0x8a, 0x0a, 0x6c, 0xfc, 0x9c, 0x46, 0xf9, 0x20, 0x6a, 0xa8, 0x50, 0x19, 0x2e, 0x80, 0x02, 0x4d, 0xe9, 0x03, 0x2e]);
        LoadFails(legacy, "is not a PyTorch zip checkpoint", "legacy", "_use_new_zipfile_serialization=False", "re-save");
    }

    [TestMethod]
    public void TruncatedCheckpointsAreRejectedWhereverTheyAreCut()
    {
        byte[] good = File.ReadAllBytes(SerializationTestUtil.Fixture("bare_state_dict.pth"));
        foreach (int length in new[] { 2, 30, 200, good.Length / 2, good.Length - 100, good.Length - 10, good.Length - 1 })
        {
            string path = Path.Combine(_dir, $"cut{length}.pth");
            File.WriteAllBytes(path, good[..length]);
            LoadFails(path, "truncated or corrupt");
        }
    }

    [TestMethod]
    public void CorruptedStorageBytesAreDetected()
    {
        // Overwrite the middle of the zip (inside an entry) with garbage: a CRC or structure check must fail.
        byte[] bytes = File.ReadAllBytes(SerializationTestUtil.Fixture("bare_state_dict.pth"));
        int at = bytes.Length / 3;
        for (int i = 0; i < 64; i++)
        {
            bytes[at + i] ^= 0x5A;
        }
        string path = Path.Combine(_dir, "garbled.pth");
        File.WriteAllBytes(path, bytes);
        LoadFails(path, "corrupt");
    }

    [TestMethod]
    public void FlippedStorageByteFailsTheCrcCheck()
    {
        // A hand-made zip whose storage entry is altered after writing: only the CRC can tell.
        string path = Zip(
            ("data.pkl", StateDictPickle(p => p.Tensor("FloatStorage", "0", 4, 0, [4], [1]))),
            ("data/0", SerializationTestUtil.Floats(1, 2, 3, 4)));
        byte[] bytes = File.ReadAllBytes(path);
        byte[] needle = SerializationTestUtil.Floats(1, 2, 3, 4);
        int at = bytes.AsSpan().IndexOf(needle);
        Assert.IsTrue(at > 0);
        bytes[at + 5] ^= 0x01;
        File.WriteAllBytes(path, bytes);
        LoadFails(path, "zip entry 'archive/data/0' is corrupt", "CRC-32");
    }

    [TestMethod]
    public void ZipWithoutDataPklIsRejected()
    {
        string path = Zip(("version", Encoding.ASCII.GetBytes("3\n")));
        LoadFails(path, "no data.pkl", "archive/version");
    }

    [TestMethod]
    public void MissingStorageEntryIsRejected()
    {
        string path = Zip(("data.pkl", StateDictPickle(p => p.Tensor("FloatStorage", "0", 6, 0, [6], [1]))));
        LoadFails(path, "missing storage entry 'archive/data/0'");
    }

    [TestMethod]
    public void StorageTooSmallIsRejected()
    {
        // The entry holds fewer bytes than the persistent id's numel.
        string small = Zip(
            ("data.pkl", StateDictPickle(p => p.Tensor("FloatStorage", "0", 6, 0, [6], [1]))),
            ("data/0", SerializationTestUtil.Floats(1, 2)));
        LoadFails(small, "storage '0' is too small", "holds 8 bytes");

        // The view reaches past the storage: size (3, 2) with stride (1, 3) needs 6 elements from offset 1.
        string view = Zip(
            ("data.pkl", StateDictPickle(p => p.Tensor("FloatStorage", "0", 6, 1, [3, 2], [1, 3]))),
            ("data/0", SerializationTestUtil.Floats(0, 1, 2, 3, 4, 5)));
        LoadFails(view, "storage '0' is too small (6 elements)", "size [3, 2], stride [1, 3], offset 1");
    }

    [TestMethod]
    public void UnsupportedOpcodeIsNamed()
    {
        byte[] pickle = new PickleBuilder().Op(0x82, 0x01).Stop().ToArray(); // EXT1 1
        string path = Zip(("data.pkl", pickle));
        LoadFails(path, "archive/data.pkl", "unsupported pickle opcode EXT1");
    }

    [TestMethod]
    public void PickleWithoutStopIsRejected()
    {
        byte[] pickle = new PickleBuilder().EmptyDict().ToArray();
        LoadFails(Zip(("data.pkl", pickle)), "truncated", "STOP");
    }

    [TestMethod]
    public void NoStateDictListsTheTopLevelKeys()
    {
        byte[] pickle = new PickleBuilder().EmptyDict().Mark().Str("epoch").Int(3).Str("arch").Str("tiny").SetItems().Stop().ToArray();
        LoadFails(Zip(("data.pkl", pickle)), "no state dict found", "'epoch', 'arch'");

        byte[] list = new PickleBuilder().Op((byte)']').Stop().ToArray();
        LoadFails(Zip(("data.pkl", list)), "no state dict found", "a list");
    }

    [TestMethod]
    public void BigEndianCheckpointIsRejected()
    {
        string path = Zip(
            ("data.pkl", StateDictPickle(p => p.Tensor("FloatStorage", "0", 1, 0, [1], [1]))),
            ("data/0", SerializationTestUtil.Floats(1)),
            ("byteorder", Encoding.ASCII.GetBytes("big")));
        LoadFails(path, "big-endian");
    }

    [TestMethod]
    public void ForeignGlobalsAreRecordedNotRun()
    {
        // {'w': os.system('touch pwned')}: becomes an opaque object; nothing runs.
        string marker = Path.Combine(_dir, "pwned");
        byte[] pickle = StateDictPickle(p => p.Global("os", "system").Mark().Str("touch " + marker).Tuple().Reduce());
        string path = Zip(("data.pkl", pickle));
        var root = (PickleDict)PyTorchCheckpoint.LoadObject(path)!;
        var obj = root["w"] as PickleObject;
        Assert.IsNotNull(obj);
        Assert.AreEqual("os.system", obj.TypeName);
        Assert.AreEqual("touch " + marker, obj.Args.Single());
        Assert.IsFalse(File.Exists(marker));
        // As a state dict it holds no tensor.
        LoadFails(path, "no state dict found", "'w'");
    }

    [TestMethod]
    public void ForeignGlobalWhereATensorIsNeededIsAnError()
    {
        // torch._utils._rebuild_parameter(evil.thing(), False, OrderedDict())
        byte[] parameter = StateDictPickle(p => p.Global("torch._utils", "_rebuild_parameter").Mark()
            .Global("evil", "thing").EmptyTuple().Reduce().Op(0x89)
            .Global("collections", "OrderedDict").EmptyTuple().Reduce().Tuple().Reduce());
        LoadFails(Zip(("data.pkl", parameter)), "needs a tensor", "evil.thing");

        // torch._utils._rebuild_tensor_v2(evil.thing(), 0, (1,), (1,), False, OrderedDict())
        byte[] tensor = StateDictPickle(p => p.Global("torch._utils", "_rebuild_tensor_v2").Mark()
            .Global("evil", "thing").EmptyTuple().Reduce().Int(0).Ints(1).Ints(1).Op(0x89)
            .Global("collections", "OrderedDict").EmptyTuple().Reduce().Tuple().Reduce());
        LoadFails(Zip(("data.pkl", tensor)), "instead of a storage", "evil.thing");
    }

    [TestMethod]
    public void AbsurdPickleLengthsAreRejectedWithoutAllocating()
    {
        // BINUNICODE claiming 4 GB - 1 of text in a 20-byte pickle.
        byte[] pickle = [.. new PickleBuilder().ToArray(), (byte)'X', 0xFF, 0xFF, 0xFF, 0xFF, (byte)'a', (byte)'.'];
        LoadFails(Zip(("data.pkl", pickle)), "truncated", "4294967295-byte value");

        // A storage whose numel overflows any array.
        byte[] huge = StateDictPickle(p => p.Tensor("DoubleStorage", "0", int.MaxValue, 0, [1], [1]));
        LoadFails(Zip(("data.pkl", huge), ("data/0", new byte[8])), "storage '0'");
    }
}
