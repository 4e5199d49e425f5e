using System.IO.Compression;
using System.Security.Cryptography;
using System.Text;
using System.Text.Json.Nodes;
using MLNet.Attention.Data;
using MLNet.Attention.Estimators;
using MLNet.Attention.Packaging;
using MLNet.Attention.Transforms;

namespace MLNet.Attention.Tests.Estimators;

/// <summary>
/// Models as one .zip: what the manifest and checksums hold, atomic saves, bit-identical predictions after reload,
/// and a clear <see cref="InvalidDataException"/> naming the file and the reason for every damaged or hostile archive.
/// </summary>
[TestClass]
public sealed class ModelFileTests
{
    private static readonly Lazy<(MLContext Ml, ITransformer Model, DataViewSchema Schema, IDataView Data, string Path)> s_saved = new(() =>
    {
        var ml = new MLContext(seed: 11);
        var idx = IdxDataset.FashionMnist(train: false).Take(40);
        var data = ml.Data.LoadFromIdx(Path.Combine(IdxReader.DebianFashionMnistFolder, "t10k-images-idx3-ubyte.gz"), Path.Combine(IdxReader.DebianFashionMnistFolder, "t10k-labels-idx1-ubyte.gz"),
            IdxDataset.FashionMnistClasses);
        data = ml.Data.TrainTestSplit(data, testFraction: 0.004, seed: 1).TestSet; // 40 rows, lazily
        var model = ml.Transforms.ExtractPixels("Features", "Image", scaleImage: 1f / 255)
            .Append(ml.Transforms.NormalizeImage("Features", new[] { 0.286f }, new[] { 0.353f }))
            .Append(ml.MulticlassClassification.Trainers.SeResNet(new AttentionBackboneTrainer.Options
            {
                Arch = "resnet18", SmallImage = true, WidthMultiplier = 0.125, MaxEpoch = 1, BatchSize = 16, Workers = 0,
            }))
            .Fit(data);
        var path = Path.Combine(EstimatorTestData.NewFolder("model"), "model.zip");
        ml.Model.Save(model, data.Schema, path);
        return (ml, model, data.Schema, data, path);
    });

    private static Dictionary<string, byte[]> Entries(string zipPath)
    {
        using var zip = ZipFile.OpenRead(zipPath);
        return zip.Entries.ToDictionary(e => e.FullName, e =>
        {
            using var s = e.Open();
            using var ms = new MemoryStream();
            s.CopyTo(ms);
            return ms.ToArray();
        });
    }

    private static string Sha(byte[] b) => Convert.ToHexStringLower(SHA256.HashData(b));

    /// <summary>Writes <paramref name="entries"/> as a new zip; with <paramref name="fixChecksums"/> checksums.sha256 is recomputed (a consistent forgery).</summary>
    private static string Rewrite(Dictionary<string, byte[]> entries, bool fixChecksums, string tag)
    {
        if (fixChecksums)
            entries[ModelPackage.ChecksumsEntry] = Encoding.ASCII.GetBytes(string.Concat(entries.Where(e => e.Key != ModelPackage.ChecksumsEntry).Select(e => $"{Sha(e.Value)}  {e.Key}\n")));
        var path = Path.Combine(EstimatorTestData.NewFolder(tag), "model.zip");
        using var zip = ZipFile.Open(path, ZipArchiveMode.Create);
        foreach (var (name, data) in entries)
        {
            using var s = zip.CreateEntry(name).Open();
            s.Write(data);
        }
        return path;
    }

    private static InvalidDataException LoadFails(string path, params string[] fragments)
    {
        var ml = new MLContext();
        var e = Assert.ThrowsExactly<InvalidDataException>(() => ml.Model.Load(path, out _));
        StringAssert.Contains(e.Message, path, "the error names the file");
        foreach (var f in fragments) StringAssert.Contains(e.Message, f);
        return e;
    }

    [TestMethod]
    public void ManifestDescribesTheModelAndChecksumsCoverEveryEntry()
    {
        var (_, _, _, _, path) = s_saved.Value;
        var entries = Entries(path);
        CollectionAssert.AreEquivalent(new[] { "manifest.json", "weights.safetensors", "checksums.sha256" }, entries.Keys.ToArray());
        var m = JsonNode.Parse(entries["manifest.json"])!.AsObject();
        Assert.AreEqual("MLNet.Attention.Model", (string?)m["format"]);
        Assert.AreEqual(1, (int?)m["formatVersion"]);
        Assert.AreEqual("0.1.0", (string?)m["packageVersion"]);
        var model = m["models"]![0]!;
        Assert.AreEqual("resnet18", (string?)model["architecture"]);
        CollectionAssert.AreEqual(IdxDataset.FashionMnistClasses.ToArray(), model["labels"]!.AsArray().Select(l => (string)l!).ToArray(), "the label names are in the manifest");
        var steps = m["pipeline"]!["transformers"]!.AsArray();
        Assert.AreEqual("ExtractPixels", (string?)steps[0]!["step"]!["op"]);
        Assert.AreEqual("NormalizeImage", (string?)steps[1]!["step"]!["op"]);
        Assert.AreEqual(0.286f, (float)steps[1]!["step"]!["mean"]![0]!, "the preprocessing's parameters are in the manifest");
        var hyper = steps[2]!["model"]!["training"]!;
        Assert.AreEqual(16, (int?)hyper["batchSize"]);
        Assert.AreEqual(0.125, (double?)steps[2]!["model"]!["widthMultiplier"]);
        var schema = m["inputSchema"]!.AsArray();
        Assert.AreEqual("Image", (string?)schema[0]!["name"]);
        Assert.AreEqual(28, (int?)schema[0]!["height"]);
        Assert.AreEqual(Sha(entries["weights.safetensors"]), (string?)m["entries"]!["weights.safetensors"]!["sha256"]);
        var sums = Encoding.ASCII.GetString(entries["checksums.sha256"]).Split('\n', StringSplitOptions.RemoveEmptyEntries);
        CollectionAssert.AreEquivalent(new[] { $"{Sha(entries["manifest.json"])}  manifest.json", $"{Sha(entries["weights.safetensors"])}  weights.safetensors" }, sums,
            "checksums.sha256 is sha256sum's format for every other entry");
    }

    [TestMethod]
    public void ReloadedModelPredictsBitIdenticallyAndSavingReplacesAtomically()
    {
        var (ml, model, schema, data, path) = s_saved.Value;
        var before = model.Transform(data).GetColumn<float[]>("Score").ToList();
        var loaded = new MLContext().Model.Load(path, out var inputSchema);
        Assert.AreEqual(schema["Image"].Type, inputSchema["Image"].Type);
        var after = loaded.Transform(data).GetColumn<float[]>("Score").ToList();
        Assert.HasCount(40, after);
        for (int i = 0; i < before.Count; i++) CollectionAssert.AreEqual(before[i], after[i], $"row {i}");

        // Saving over a file replaces it in one step; a save that fails leaves it as it was, and no temporary file.
        var copy = Path.Combine(EstimatorTestData.NewFolder("atomic"), "model.zip");
        File.Copy(path, copy);
        var original = File.ReadAllBytes(copy);
        var unsavable = new TransformerChain<ITransformer>(((TransformerChain<AttentionBackboneTransformer>)model).Append(new CustomTransformer()).ToArray());
        Assert.ThrowsExactly<NotSupportedException>(() => ml.Model.Save(unsavable, schema, copy));
        CollectionAssert.AreEqual(original, File.ReadAllBytes(copy), "a failed save leaves the old file intact");
        CollectionAssert.AreEqual(new[] { copy }, Directory.GetFiles(Path.GetDirectoryName(copy)!), "and no temporary file");
        ml.Model.Save(model, schema, copy);
        Assert.IsTrue(new MLContext().Model.Load(copy, out _) is TransformerChain<ITransformer>);
    }

    private sealed class CustomTransformer : ITransformer
    {
        public bool IsRowToRowMapper => true;
        public DataViewSchema GetOutputSchema(DataViewSchema inputSchema) => inputSchema;
        public IDataView Transform(IDataView input) => input;
    }

    [TestMethod]
    public void TruncatedOrCorruptArchivesAreRejected()
    {
        var path = s_saved.Value.Path;
        var bytes = File.ReadAllBytes(path);
        var folder = EstimatorTestData.NewFolder("damaged");

        var truncated = Path.Combine(folder, "truncated.zip");
        File.WriteAllBytes(truncated, bytes[..(bytes.Length / 2)]);
        LoadFails(truncated, "not a readable .zip");

        var empty = Path.Combine(folder, "empty.zip");
        File.WriteAllBytes(empty, Array.Empty<byte>());
        LoadFails(empty);

        // Flip bytes in the middle of the weights' data: the deflate stream, the CRC or the SHA-256 catches it.
        var corrupt = Path.Combine(folder, "corrupt.zip");
        var damaged = (byte[])bytes.Clone();
        for (int i = bytes.Length / 2; i < bytes.Length / 2 + 64; i++) damaged[i] ^= 0x5A;
        File.WriteAllBytes(corrupt, damaged);
        LoadFails(corrupt, "weights.safetensors");

        Assert.ThrowsExactly<FileNotFoundException>(() => new MLContext().Model.Load(Path.Combine(folder, "missing.zip"), out _));
    }

    [TestMethod]
    public void TamperedEntriesFailTheirChecksums()
    {
        var entries = Entries(s_saved.Value.Path);
        var w = entries["weights.safetensors"];
        w[^5] ^= 1; // a weight changed, the archive itself valid
        LoadFails(Rewrite(entries, fixChecksums: false, "tampered"), "checksum mismatch for 'weights.safetensors'");

        entries = Entries(s_saved.Value.Path);
        entries["manifest.json"] = Encoding.UTF8.GetBytes(Encoding.UTF8.GetString(entries["manifest.json"]).Replace("Sandal", "Sandle", StringComparison.Ordinal));
        LoadFails(Rewrite(entries, fixChecksums: false, "tampered-manifest"), "checksum mismatch for 'manifest.json'");

        entries = Entries(s_saved.Value.Path);
        entries.Remove("checksums.sha256");
        LoadFails(Rewrite(entries, fixChecksums: false, "no-checksums"), "no checksums.sha256");

        entries = Entries(s_saved.Value.Path);
        entries["notes.txt"] = Encoding.ASCII.GetBytes("hello");
        LoadFails(Rewrite(entries, fixChecksums: true, "extra"), "unexpected entry 'notes.txt'");
    }

    [TestMethod]
    public void ZipSlipNamesAndOversizedEntriesAreRefused()
    {
        foreach (var evil in new[] { "../evil.safetensors", "/etc/evil.safetensors", "sub/../../evil.safetensors", "..\\evil.safetensors", "C:evil.safetensors" })
        {
            var entries = Entries(s_saved.Value.Path);
            entries[evil] = new byte[] { 1, 2, 3 };
            LoadFails(Rewrite(entries, fixChecksums: true, "slip"), $"entry name '{evil}'", "zip-slip");
        }

        var big = Entries(s_saved.Value.Path);
        // 17 MiB of spaces deflate to a few KiB: a small file that would inflate past the manifest limit.
        big["manifest.json"] = Encoding.ASCII.GetBytes(Encoding.UTF8.GetString(big["manifest.json"]) + new string(' ', 17 << 20));
        LoadFails(Rewrite(big, fixChecksums: true, "big"), "entry 'manifest.json'", "above the limit");
    }

    [TestMethod]
    public void NewerFormatVersionsAskForAnUpgrade()
    {
        var entries = Entries(s_saved.Value.Path);
        var m = JsonNode.Parse(entries["manifest.json"])!.AsObject();
        m["formatVersion"] = 2;
        m["packageVersion"] = "9.0.0";
        entries["manifest.json"] = Encoding.UTF8.GetBytes(m.ToJsonString());
        LoadFails(Rewrite(entries, fixChecksums: true, "newer"), "format version 2", "9.0.0", "upgrade");

        m["formatVersion"] = 1;
        m["format"] = "something else";
        entries["manifest.json"] = Encoding.UTF8.GetBytes(m.ToJsonString());
        LoadFails(Rewrite(entries, fixChecksums: true, "foreign"), "not a model written by this library");

        m["format"] = "MLNet.Attention.Model";
        m["pipeline"]!["transformers"]![0]!["kind"] = "Teleporter";
        entries["manifest.json"] = Encoding.UTF8.GetBytes(m.ToJsonString());
        LoadFails(Rewrite(entries, fixChecksums: true, "unknown-kind"), "unknown transformer kind 'Teleporter'");

        entries = Entries(s_saved.Value.Path);
        entries["manifest.json"] = Encoding.UTF8.GetBytes("{ not json");
        LoadFails(Rewrite(entries, fixChecksums: true, "bad-json"), "manifest.json is not valid JSON");
    }
}
