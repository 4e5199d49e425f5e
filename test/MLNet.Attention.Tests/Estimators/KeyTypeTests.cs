using System.IO.Compression;
using System.Security.Cryptography;
using System.Text;
using System.Text.Json.Nodes;
using MLNet.Attention.AutoML;
using MLNet.Attention.Data;
using MLNet.Attention.Estimators;
using MLNet.Attention.Packaging;
using MLNet.Attention.Transforms;

namespace MLNet.Attention.Tests.Estimators;

/// <summary>
/// Key types as ML.NET has them: <c>MapValueToKey</c> (by occurrence or value, keyData, unseen → 0, the key limit),
/// <c>MapKeyToValue</c> (original types, missing keys), key labels in the trainer (class = key − 1, a key
/// <c>PredictedLabel</c> that maps back, missing keys named), Evaluate and AutoML on key labels, schema propagation both
/// ways, and the canonical image-classification pipeline end to end on 40 Fashion-MNIST PNGs: fit, evaluate, save,
/// load, identical predictions, prediction engines.
/// </summary>
[TestClass]
public sealed class KeyTypeTests : OneThreadTest
{
    // ------------------------------------------------------------------------------------------------ data

    private static readonly Lazy<(string Train, string Test)> s_folders = new(() =>
    {
        var train = EstimatorTestData.NewFolder("keys-train");
        var test = EstimatorTestData.NewFolder("keys-test");
        ImageFolderWriter.WriteFashionMnist(train, train: true, limit: 40);    // the first 40 hold all 10 classes
        ImageFolderWriter.WriteFashionMnist(test, train: false, limit: 20);    // so do the first 20 test images
        return (train, test);
    });

    public sealed class TextRow
    {
        public string Label { get; set; } = "";
    }

    public sealed class IntRow
    {
        public int Label { get; set; }
    }

    public sealed class FloatRow
    {
        public float Value { get; set; }
    }

    public sealed class BoolRow
    {
        public bool Flag { get; set; }
    }

    public sealed class VectorRow
    {
        [VectorType(2)]
        public float[] Values { get; set; } = new float[2];
    }

    public sealed class RawKeyRow
    {
        [KeyType(3)]
        public uint Key { get; set; }
    }

    public sealed class KeyOut
    {
        public uint LabelAsKey { get; set; }
    }

    public sealed class PathAndDigit
    {
        public string ImagePath { get; set; } = "";
        public int Digit { get; set; }
    }

    public sealed class KeyPrediction
    {
        public uint PredictedLabel { get; set; }
        public float[] Score { get; set; } = Array.Empty<float>();
    }

    public sealed class TextPrediction
    {
        public string Label { get; set; } = "";
        public uint LabelAsKey { get; set; }
        public float[] Score { get; set; } = Array.Empty<float>();
        public string PredictedLabel { get; set; } = "";
    }

    private static uint[] Keys(MLContext ml, IDataView data, string column = "LabelAsKey") => data.GetColumn<uint>(column).ToArray();

    // ------------------------------------------------------------------------------------------------ the type

    [TestMethod]
    public void KeyTypeHasMlNetsShapeAndEquality()
    {
        var k = new KeyDataViewType(typeof(uint), 10);
        Assert.AreEqual("Key<UInt32, 0-9>", k.ToString());
        Assert.AreEqual(typeof(uint), k.RawType);
        Assert.AreEqual(10UL, k.Count);
        Assert.AreEqual(k, new KeyDataViewType(typeof(uint), 10));
        Assert.AreNotEqual(k, new KeyDataViewType(typeof(uint), 11));
        Assert.IsFalse(k.Equals(NumberDataViewType.UInt32), "a key is not a plain UInt32");
        Assert.IsFalse(NumberDataViewType.UInt32.Equals(k), "a plain UInt32 is not a key");
        Assert.ThrowsExactly<ArgumentException>(() => new KeyDataViewType(typeof(int), 3));
        Assert.ThrowsExactly<ArgumentOutOfRangeException>(() => new KeyDataViewType(typeof(uint), 0));
        Assert.AreEqual(k, ModelJson.ReadType(ModelJson.WriteType(k)), "the manifest's type form round-trips");

        var ml = new MLContext(1);
        var raw = ml.Data.LoadFromEnumerable(new[] { new RawKeyRow { Key = 2 } });
        Assert.AreEqual(new KeyDataViewType(typeof(uint), 3), raw.Schema["Key"].Type, "[KeyType(3)] on a uint member makes a key column");
    }

    // ------------------------------------------------------------------------------------------------ MapValueToKey

    [TestMethod]
    public void ByOccurrenceAndByValueOrderTheKeys()
    {
        var ml = new MLContext(1);
        var text = ml.Data.LoadFromEnumerable(new[] { "b", "a", "c", "a", "", "b" }.Select(s => new TextRow { Label = s }).ToList());
        var occ = ml.Transforms.Conversion.MapValueToKey("LabelAsKey", "Label").Fit(text);
        CollectionAssert.AreEqual(new[] { "b", "a", "c" }, occ.KeyValues.ToArray(), "first-seen order; empty text is missing, not a key");
        var scored = occ.Transform(text);
        CollectionAssert.AreEqual(new uint[] { 1, 2, 3, 2, 0, 1 }, Keys(ml, scored));
        var col = scored.Schema["LabelAsKey"];
        Assert.AreEqual(new KeyDataViewType(typeof(uint), 3), col.Type);
        CollectionAssert.AreEqual(new[] { "b", "a", "c" }, col.GetKeyValues()!.ToArray());
        VBuffer<ReadOnlyMemory<char>> kv = default;
        col.GetKeyValues(ref kv);
        Assert.AreEqual("c", kv.GetValues()[2].ToString());

        var byValue = ml.Transforms.Conversion.MapValueToKey("LabelAsKey", "Label", keyOrdinality: ValueToKeyMappingEstimator.KeyOrdinality.ByValue).Fit(text);
        CollectionAssert.AreEqual(new[] { "a", "b", "c" }, byValue.KeyValues.ToArray(), "ordinal order");
        CollectionAssert.AreEqual(new uint[] { 2, 1, 3, 1, 0, 2 }, Keys(ml, byValue.Transform(text)));

        var ints = ml.Data.LoadFromEnumerable(new[] { 10, 9, 100, -3, 9 }.Select(i => new IntRow { Label = i }).ToList());
        var numeric = ml.Transforms.Conversion.MapValueToKey("LabelAsKey", "Label", keyOrdinality: ValueToKeyMappingEstimator.KeyOrdinality.ByValue).Fit(ints);
        CollectionAssert.AreEqual(new[] { "-3", "9", "10", "100" }, numeric.KeyValues.ToArray(), "numeric order, not text order");
        CollectionAssert.AreEqual(new uint[] { 3, 2, 4, 1, 2 }, Keys(ml, numeric.Transform(ints)));

        // Preview and CreateEnumerable show the keys as uint.
        var preview = occ.Transform(text).Preview();
        var keyColumn = preview.ColumnView.Single(c => c.Column.Name == "LabelAsKey");
        CollectionAssert.AreEqual(new object[] { 1u, 2u, 3u, 2u, 0u, 1u }, keyColumn.Values.ToArray());
        StringAssert.Contains(preview.ToString(), "LabelAsKey: Key<UInt32, 0-2>");
        CollectionAssert.AreEqual(new uint[] { 1, 2, 3, 2, 0, 1 }, ml.Data.CreateEnumerable<KeyOut>(occ.Transform(text)).Select(r => r.LabelAsKey).ToArray());
    }

    [TestMethod]
    public void KeyDataFixesTheDictionaryAndUnseenValuesAreZero()
    {
        var ml = new MLContext(1);
        var keyData = ml.Data.LoadFromEnumerable(new[] { "cat", "dog", "cat" }.Select(s => new TextRow { Label = s }).ToList());
        var data = ml.Data.LoadFromEnumerable(new[] { "dog", "bird", "cat" }.Select(s => new TextRow { Label = s }).ToList());
        var t = ml.Transforms.Conversion.MapValueToKey("LabelAsKey", "Label", keyData: keyData).Fit(data);
        CollectionAssert.AreEqual(new[] { "cat", "dog" }, t.KeyValues.ToArray(), "the keyData's values (duplicates once), not the data's");
        CollectionAssert.AreEqual(new uint[] { 2, 0, 1 }, Keys(ml, t.Transform(data)), "'bird' is not in the dictionary: key 0");

        var later = ml.Data.LoadFromEnumerable(new[] { "fish", "cat" }.Select(s => new TextRow { Label = s }).ToList());
        CollectionAssert.AreEqual(new uint[] { 0, 1 }, Keys(ml, t.Transform(later)), "values unseen at Fit are key 0");

        // keyData as text for a number column: parsed; sorted by value when asked.
        var ints = ml.Data.LoadFromEnumerable(new[] { 5, 7, 6 }.Select(i => new IntRow { Label = i }).ToList());
        var textKeys = ml.Data.LoadFromEnumerable(new[] { "7", "5" }.Select(s => new TextRow { Label = s }).ToList());
        var parsed = ml.Transforms.Conversion.MapValueToKey("LabelAsKey", "Label", keyOrdinality: ValueToKeyMappingEstimator.KeyOrdinality.ByValue, keyData: textKeys).Fit(ints);
        CollectionAssert.AreEqual(new[] { "5", "7" }, parsed.KeyValues.ToArray());
        CollectionAssert.AreEqual(new uint[] { 1, 2, 0 }, Keys(ml, parsed.Transform(ints)));

        var bad = ml.Data.LoadFromEnumerable(new[] { "7", "seven" }.Select(s => new TextRow { Label = s }).ToList());
        var e = Assert.ThrowsExactly<InvalidOperationException>(() => ml.Transforms.Conversion.MapValueToKey("K", "Label", keyData: bad).Fit(ints));
        StringAssert.Contains(e.Message, "'seven'");
        StringAssert.Contains(e.Message, "Int32");
        var two = ml.Data.LoadFromEnumerable(new[] { new PathAndDigit() });
        var e2 = Assert.ThrowsExactly<ArgumentException>(() => ml.Transforms.Conversion.MapValueToKey("K", "Label", keyData: two));
        StringAssert.Contains(e2.Message, "one column");
    }

    [TestMethod]
    public void TooManyDistinctValuesIsAnErrorNamingTheColumnAndTheLimit()
    {
        var ml = new MLContext(1);
        var data = ml.Data.LoadFromEnumerable(Enumerable.Range(0, 6).Select(i => new IntRow { Label = i % 4 }).ToList());
        Assert.AreEqual(4, ml.Transforms.Conversion.MapValueToKey("K", "Label", maximumNumberOfKeys: 4).Fit(data).KeyValues.Count, "exactly the limit is fine");
        var e = Assert.ThrowsExactly<InvalidOperationException>(() => ml.Transforms.Conversion.MapValueToKey("K", "Label", maximumNumberOfKeys: 3).Fit(data));
        StringAssert.Contains(e.Message, "'Label'");
        StringAssert.Contains(e.Message, "more than 3 distinct values");
        Assert.ThrowsExactly<ArgumentOutOfRangeException>(() => ml.Transforms.Conversion.MapValueToKey("K", "Label", maximumNumberOfKeys: 0));
    }

    [TestMethod]
    public void UnsupportedColumnsAreErrorsNamingTheColumnAndType()
    {
        var ml = new MLContext(1);
        var vectors = ml.Data.LoadFromEnumerable(new[] { new VectorRow() });
        var e = Assert.ThrowsExactly<ArgumentOutOfRangeException>(() => ml.Transforms.Conversion.MapValueToKey("K", "Values").Fit(vectors));
        StringAssert.Contains(e.Message, "'Values'");
        StringAssert.Contains(e.Message, "Vector<Single, 2>");
        e = Assert.ThrowsExactly<ArgumentOutOfRangeException>(() => ml.Transforms.Conversion.MapValueToKey("K", "Values").GetOutputSchema(SchemaShape.Create(vectors.Schema)));
        StringAssert.Contains(e.Message, "'Values'");
        e = Assert.ThrowsExactly<ArgumentOutOfRangeException>(() => ml.Transforms.Conversion.MapValueToKey("K", "Nope").Fit(vectors));
        StringAssert.Contains(e.Message, "'Nope' not found");

        var text = ml.Data.LoadFromEnumerable(new[] { new TextRow { Label = "a" } });
        e = Assert.ThrowsExactly<ArgumentOutOfRangeException>(() => ml.Transforms.Conversion.MapKeyToValue("Value", "Label").Fit(text));
        StringAssert.Contains(e.Message, "'Label' is String, not a key column");
        e = Assert.ThrowsExactly<ArgumentOutOfRangeException>(() => ml.Transforms.Conversion.MapKeyToValue("Value", "Label").GetOutputSchema(SchemaShape.Create(text.Schema)));
        StringAssert.Contains(e.Message, "'Label' is String, not a key column");
        var raw = ml.Data.LoadFromEnumerable(new[] { new RawKeyRow { Key = 1 } });
        e = Assert.ThrowsExactly<ArgumentOutOfRangeException>(() => ml.Transforms.Conversion.MapKeyToValue("Value", "Key").Fit(raw));
        StringAssert.Contains(e.Message, "'Key' has no key values");

        // Applying a fitted mapping to a column of another type.
        var t = ml.Transforms.Conversion.MapValueToKey("K", "Label").Fit(text);
        var ints = ml.Data.LoadFromEnumerable(new[] { new IntRow { Label = 1 } });
        e = Assert.ThrowsExactly<ArgumentOutOfRangeException>(() => t.Transform(ints));
        StringAssert.Contains(e.Message, "'Label' is Int32");
        var empty = ml.Data.LoadFromEnumerable(new[] { new TextRow { Label = "" } });
        var e3 = Assert.ThrowsExactly<InvalidOperationException>(() => ml.Transforms.Conversion.MapValueToKey("K", "Label").Fit(empty));
        StringAssert.Contains(e3.Message, "no value");
    }

    // ------------------------------------------------------------------------------------------------ MapKeyToValue

    [TestMethod]
    public void KeyToValueRestoresTheOriginalTypesAndMissingKeys()
    {
        var ml = new MLContext(1);
        var floats = ml.Data.LoadFromEnumerable(new[] { 0.1f, float.NaN, 2.5f, 0.1f, 1e-7f }.Select(f => new FloatRow { Value = f }).ToList());
        var keyed = ml.Transforms.Conversion.MapValueToKey("K", "Value").Fit(floats).Transform(floats);
        CollectionAssert.AreEqual(new uint[] { 1, 0, 2, 1, 3 }, Keys(ml, keyed, "K"), "NaN is missing");
        var back = ml.Transforms.Conversion.MapKeyToValue("Back", "K").Fit(keyed).Transform(keyed);
        Assert.AreEqual(NumberDataViewType.Single, back.Schema["Back"].Type);
        var values = back.GetColumn<float>("Back").ToArray();
        CollectionAssert.AreEqual(new[] { 0.1f, float.NaN, 2.5f, 0.1f, 1e-7f }, values, "bit-exact floats; key 0 → NaN");

        var bools = ml.Data.LoadFromEnumerable(new[] { true, false, true }.Select(b => new BoolRow { Flag = b }).ToList());
        var bk = ml.Transforms.Conversion.MapValueToKey("K", "Flag", keyOrdinality: ValueToKeyMappingEstimator.KeyOrdinality.ByValue).Fit(bools);
        CollectionAssert.AreEqual(new[] { "False", "True" }, bk.KeyValues.ToArray());
        var bb = ml.Transforms.Conversion.MapKeyToValue("Flag2", "K").Fit(bk.Transform(bools)).Transform(bk.Transform(bools));
        CollectionAssert.AreEqual(new[] { true, false, true }, bb.GetColumn<bool>("Flag2").ToArray());

        // Integers back as Int32; with addKeyValueAnnotationsAsText as text; a missing key → 0 / empty text.
        var ints = ml.Data.LoadFromEnumerable(new[] { 3, 1, 3 }.Select(i => new IntRow { Label = i }).ToList());
        var ik = ml.Transforms.Conversion.MapValueToKey("K", "Label").Fit(ints);
        var other = ml.Data.LoadFromEnumerable(new[] { 1, 2 }.Select(i => new IntRow { Label = i }).ToList());
        var ib = ml.Transforms.Conversion.MapKeyToValue("Back", "K").Fit(ik.Transform(other)).Transform(ik.Transform(other));
        Assert.AreEqual(NumberDataViewType.Int32, ib.Schema["Back"].Type);
        CollectionAssert.AreEqual(new[] { 1, 0 }, ib.GetColumn<int>("Back").ToArray());
        var asText = ml.Transforms.Conversion.MapValueToKey("K", "Label", addKeyValueAnnotationsAsText: true).Fit(ints);
        Assert.AreEqual(NumberDataViewType.Int32, asText.ValueType);
        var tb = ml.Transforms.Conversion.MapKeyToValue("Back", "K").Fit(asText.Transform(other)).Transform(asText.Transform(other));
        Assert.AreEqual(TextDataViewType.Instance, tb.Schema["Back"].Type);
        CollectionAssert.AreEqual(new[] { "1", "" }, tb.GetColumn<string>("Back").ToArray());
    }

    [TestMethod]
    public void ConversionsSaveAndLoadAndTamperedDictionariesAreErrors()
    {
        var ml = new MLContext(1);
        var data = ml.Data.LoadFromEnumerable(new[] { 4, 2, 4, 9 }.Select(i => new IntRow { Label = i }).ToList());
        var model = ml.Transforms.Conversion.MapValueToKey("K", "Label", keyOrdinality: ValueToKeyMappingEstimator.KeyOrdinality.ByValue)
            .Append(ml.Transforms.Conversion.MapKeyToValue("Back", "K")).Fit(data);
        var path = Path.Combine(EstimatorTestData.NewFolder("keys-save"), "keys.zip");
        ml.Model.Save(model, data.Schema, path);
        var loaded = new MLContext(2).Model.Load(path, out var schema);
        Assert.AreEqual(NumberDataViewType.Int32, schema["Label"].Type);
        var chain = ((TransformerChain<ITransformer>)loaded).ToArray();
        Assert.IsInstanceOfType<ValueToKeyMappingTransformer>(chain[0]);
        Assert.IsInstanceOfType<KeyToValueMappingTransformer>(chain[1]);
        CollectionAssert.AreEqual(new[] { "2", "4", "9" }, ((ValueToKeyMappingTransformer)chain[0]).KeyValues.ToArray());
        var a = model.Transform(data);
        var b = loaded.Transform(data);
        CollectionAssert.AreEqual(Keys(ml, a, "K"), Keys(ml, b, "K"));
        CollectionAssert.AreEqual(new[] { 4, 2, 4, 9 }, b.GetColumn<int>("Back").ToArray());

        // Forged manifests (checksums recomputed): a duplicated value, a value of the wrong type, an unknown kind.
        string Forge(Func<string, string> edit, string tag)
        {
            Dictionary<string, byte[]> entries;
            using (var zip = ZipFile.OpenRead(path))
                entries = zip.Entries.ToDictionary(e => e.FullName, e => { using var s = e.Open(); using var ms = new MemoryStream(); s.CopyTo(ms); return ms.ToArray(); });
            entries["manifest.json"] = Encoding.UTF8.GetBytes(edit(Encoding.UTF8.GetString(entries["manifest.json"])));
            entries[ModelPackage.ChecksumsEntry] = Encoding.ASCII.GetBytes(string.Concat(entries.Where(e => e.Key != ModelPackage.ChecksumsEntry)
                .Select(e => $"{Convert.ToHexStringLower(SHA256.HashData(e.Value))}  {e.Key}\n")));
            var p = Path.Combine(EstimatorTestData.NewFolder(tag), "forged.zip");
            using var outZip = ZipFile.Open(p, ZipArchiveMode.Create);
            foreach (var (name, bytes) in entries)
            {
                using var s = outZip.CreateEntry(name).Open();
                s.Write(bytes);
            }
            return p;
        }
        string EditValues(string manifest, Action<JsonArray> edit)
        {
            var m = JsonNode.Parse(manifest)!.AsObject();
            edit(m["pipeline"]!["transformers"]![0]!["values"]!.AsArray());
            return m.ToJsonString();
        }
        void Fails(string p, params string[] fragments)
        {
            var e = Assert.ThrowsExactly<InvalidDataException>(() => new MLContext().Model.Load(p, out _));
            StringAssert.Contains(e.Message, p);
            foreach (var f in fragments) StringAssert.Contains(e.Message, f);
        }
        Fails(Forge(m => EditValues(m, v => v[2] = "2"), "dup"), "ValueToKeyMapping", "'2' appears twice");
        Fails(Forge(m => EditValues(m, v => v[1] = "four"), "type"), "ValueToKeyMapping", "'four' is not a Int32");
        Fails(Forge(m => EditValues(m, v => v.Clear()), "empty"), "ValueToKeyMapping", "empty");
        Fails(Forge(m => m.Replace("\"KeyToValueMapping\"", "\"KeyToValueMappingV9\"", StringComparison.Ordinal), "kind"), "unknown transformer kind 'KeyToValueMappingV9'");
        // Unforged tampering still fails the checksum.
        Dictionary<string, byte[]> raw;
        using (var zip = ZipFile.OpenRead(path))
            raw = zip.Entries.ToDictionary(e => e.FullName, e => { using var s = e.Open(); using var ms = new MemoryStream(); s.CopyTo(ms); return ms.ToArray(); });
        raw["manifest.json"] = Encoding.UTF8.GetBytes(Encoding.UTF8.GetString(raw["manifest.json"]).Replace("\"9\"", "\"8\"", StringComparison.Ordinal));
        var tampered = Path.Combine(EstimatorTestData.NewFolder("keys-tampered"), "t.zip");
        using (var z = ZipFile.Open(tampered, ZipArchiveMode.Create))
            foreach (var (name, bytes) in raw)
            {
                using var s = z.CreateEntry(name).Open();
                s.Write(bytes);
            }
        Fails(tampered, "checksum mismatch for 'manifest.json'");
    }

    // ------------------------------------------------------------------------------------------------ the canonical pipeline

    /// <summary>ML.NET's image-classification pipeline in its shape; the trainer here is the simple overload's.</summary>
    private static EstimatorChain<KeyToValueMappingTransformer> Canonical(MLContext ml, string folder, AttentionBackboneTrainer trainer) =>
        ml.Transforms.Conversion.MapValueToKey("LabelAsKey", "Label")
            .Append(ml.Transforms.LoadImages("Image", folder, "ImagePath"))
            .Append(ml.Transforms.ResizeImages("Image", 28, 28))
            .Append(ml.Transforms.ExtractPixels("Features", "Image"))
            .Append(trainer)
            .Append(ml.Transforms.Conversion.MapKeyToValue("PredictedLabel"));

    /// <summary>A tiny SE-ResNet-18 on the key label (the simple overload's SE-ResNet-50 is the same code at 25 M parameters).</summary>
    private static AttentionBackboneTrainer Tiny(MLContext ml, string label = "LabelAsKey", BadInputPolicy onBadInput = BadInputPolicy.Throw) =>
        ml.MulticlassClassification.Trainers.SeResNet(new AttentionBackboneTrainer.Options
        {
            LabelColumnName = label, FeatureColumnName = "Features", Arch = "resnet18", Attention = "se", SmallImage = true, WidthMultiplier = 0.125,
            MaxEpoch = 1, BatchSize = 20, LearningRate = 0.05, Workers = 0, OnBadInput = onBadInput,
        });

    private static readonly Lazy<(MLContext Ml, TransformerChain<KeyToValueMappingTransformer> Model, IDataView Train)> s_canonical = new(() =>
    {
        var ml = new MLContext(seed: 3);
        var (train, _) = s_folders.Value;
        var data = ml.Data.LoadFromImageFolder(train);
        return (ml, Canonical(ml, train, Tiny(ml)).Fit(data), data);
    });

    [TestMethod]
    public void CanonicalPipelineFitsEvaluatesSavesAndReloadsWithIdenticalPredictions()
    {
        var (ml, model, train) = s_canonical.Value;
        var (_, testFolder) = s_folders.Value;
        var classes = train.GetColumn<string>("Label").Distinct().ToArray();
        var backbone = model.OfType<AttentionBackboneTransformer>().Single();
        Assert.AreEqual(new KeyDataViewType(typeof(uint), 10), backbone.LabelType, "trained on the key label");
        CollectionAssert.AreEqual(classes, backbone.Labels.ToArray(), "classes in key order: the label values by first occurrence");

        var test = ml.Data.LoadFromImageFolder(testFolder);
        var scored = model.Transform(test);
        Assert.AreEqual(TextDataViewType.Instance, scored.Schema["PredictedLabel"].Type, "MapKeyToValue gives the labels back as text");
        Assert.AreEqual(new KeyDataViewType(typeof(uint), 10), scored.Schema["LabelAsKey"].Type);
        Assert.IsTrue(scored.Schema.Any(c => c.IsHidden && c.Name == "PredictedLabel" && c.Type is KeyDataViewType), "the trainer's key PredictedLabel is under it");
        CollectionAssert.AreEqual(classes, scored.Schema["Score"].GetSlotNames()!.ToArray(), "Score's slot names are the key values");

        var byKey = ml.MulticlassClassification.Evaluate(scored, labelColumnName: "LabelAsKey");
        var byText = ml.MulticlassClassification.Evaluate(scored);
        Assert.AreEqual(10, byKey.ConfusionMatrix.NumberOfClasses);
        Assert.AreEqual(byText.MicroAccuracy, byKey.MicroAccuracy, "the key label and the text label evaluate alike");
        Assert.AreEqual(byText.LogLoss, byKey.LogLoss);

        var predictions = ml.Data.CreateEnumerable<TextPrediction>(scored).ToList();
        Assert.HasCount(20, predictions);
        foreach (var p in predictions)
        {
            CollectionAssert.Contains(classes, p.PredictedLabel, "predicted labels are original label values");
            Assert.AreEqual(classes[Array.IndexOf(p.Score, p.Score.Max())], p.PredictedLabel);
            Assert.AreEqual(p.Label, classes[p.LabelAsKey - 1], "key k is class k - 1");
        }
        Assert.AreEqual(byText.MicroAccuracy, predictions.Count(p => p.PredictedLabel == p.Label) / 20.0, 1e-12);

        var path = Path.Combine(EstimatorTestData.NewFolder("keys-canonical"), "model.zip");
        ml.Model.Save(model, train.Schema, path);
        var ml2 = new MLContext(seed: 9);
        var loaded = ml2.Model.Load(path, out _);
        var reloaded = ml2.Data.CreateEnumerable<TextPrediction>(loaded.Transform(ml2.Data.LoadFromImageFolder(testFolder))).ToList();
        for (int i = 0; i < predictions.Count; i++)
        {
            CollectionAssert.AreEqual(predictions[i].Score, reloaded[i].Score, $"row {i}: bit-identical probabilities after reload");
            Assert.AreEqual(predictions[i].PredictedLabel, reloaded[i].PredictedLabel);
            Assert.AreEqual(predictions[i].LabelAsKey, reloaded[i].LabelAsKey);
        }
        var kinds = ((TransformerChain<ITransformer>)loaded).Select(t => t.GetType().Name).ToArray();
        Assert.AreEqual(nameof(ValueToKeyMappingTransformer), kinds[0]);
        Assert.AreEqual(nameof(KeyToValueMappingTransformer), kinds[^1]);

        // A prediction engine: the input has the Label column MapValueToKey reads (as in ML.NET), the output a text PredictedLabel.
        var engine = ml2.Model.CreatePredictionEngine<EstimatorTestData.LabelledPath, EstimatorTestData.Prediction>(loaded);
        var files = ml2.Data.CreateEnumerable<EstimatorTestData.LabelledPath>(ml2.Data.LoadFromImageFolder(testFolder)).ToList();
        for (int i = 0; i < 3; i++)
        {
            var one = engine.Predict(new EstimatorTestData.LabelledPath { ImagePath = files[i].ImagePath, Label = "not a class" });
            // One image per forward pass against a batch of 20: the same up to float rounding.
            for (int k = 0; k < 10; k++) Assert.AreEqual(predictions[i].Score[k], one.Score[k], 1e-5, $"image {i}: probability {k}");
            Assert.AreEqual(predictions[i].PredictedLabel, one.PredictedLabel, $"image {i}: the engine agrees with the batch");
        }
    }

    [TestMethod]
    public void CanonicalPipelineRunsWithTheTrainersSimpleOverload()
    {
        // Exactly ML.NET's shape: SeResNet(labelColumnName, featureColumnName) — SE-ResNet-50, RGB 0..255 pixels — for one short epoch.
        var ml = new MLContext(seed: 5);
        var (trainFolder, testFolder) = s_folders.Value;
        var data = ml.Data.LoadFromImageFolder(trainFolder);
        var model = Canonical(ml, trainFolder,
            ml.MulticlassClassification.Trainers.SeResNet(labelColumnName: "LabelAsKey", featureColumnName: "Features", maxEpoch: 1, batchSize: 20)).Fit(data);
        var backbone = model.OfType<AttentionBackboneTransformer>().Single();
        Assert.AreEqual("seresnet50", backbone.Architecture);
        Assert.AreEqual((3, 28, 28), backbone.InputShape);
        var scored = model.Transform(ml.Data.LoadFromImageFolder(testFolder));
        var classes = data.GetColumn<string>("Label").Distinct().ToHashSet();
        var predicted = scored.GetColumn<string>("PredictedLabel").ToArray();
        Assert.HasCount(20, predicted);
        Assert.IsTrue(predicted.All(classes.Contains), "every prediction is one of the original labels");
        Assert.AreEqual(10, ml.MulticlassClassification.Evaluate(scored, labelColumnName: "LabelAsKey").ConfusionMatrix.NumberOfClasses);
    }

    [TestMethod]
    public void SchemaPropagatesThroughBothGetOutputSchemas()
    {
        var ml = new MLContext(1);
        var (trainFolder, _) = s_folders.Value;
        var data = ml.Data.LoadFromImageFolder(trainFolder);
        // The canonical pipeline exactly, with the trainer's simple overload.
        var canonical = Canonical(ml, trainFolder, ml.MulticlassClassification.Trainers.SeResNet(labelColumnName: "LabelAsKey", featureColumnName: "Features"));
        var shape = canonical.GetOutputSchema(SchemaShape.Create(data.Schema));
        Assert.IsTrue(shape.TryFindColumn("LabelAsKey", out var key));
        Assert.IsTrue(key.IsKey);
        Assert.AreEqual(NumberDataViewType.UInt32, key.ItemType, "a key's item type is its raw type, as in ML.NET's SchemaShape");
        Assert.IsTrue(key.Annotations!.TryFindColumn("KeyValues", out var kv) && kv.ItemType == TextDataViewType.Instance);
        Assert.IsTrue(shape.TryFindColumn("PredictedLabel", out var predicted));
        Assert.IsFalse(predicted.IsKey);
        Assert.AreEqual(TextDataViewType.Instance, predicted.ItemType, "MapKeyToValue gives the key values' type");
        StringAssert.Contains(key.ToString(), "Key<UInt32>");

        // Without MapKeyToValue the trainer's PredictedLabel is a key with the label's key values.
        var ints = ml.Data.LoadFromEnumerable(new[] { new PathAndDigit { ImagePath = "a.png", Digit = 1 } });
        var keyed = ml.Transforms.Conversion.MapValueToKey("LabelAsKey", "Digit")
            .Append(ml.Transforms.LoadImages("Image", null, "ImagePath"))
            .Append(ml.Transforms.ExtractPixels("Features", "Image"))
            .Append(Tiny(ml));
        var s2 = keyed.GetOutputSchema(SchemaShape.Create(ints.Schema));
        Assert.IsTrue(s2.TryFindColumn("PredictedLabel", out var pk) && pk.IsKey);
        Assert.IsTrue(pk.Annotations!.TryFindColumn("KeyValues", out var pkv) && pkv.ItemType == NumberDataViewType.Int32, "the key values stay Int32");
        var back = ml.Transforms.Conversion.MapKeyToValue("PredictedDigit", "PredictedLabel").GetOutputSchema(s2);
        Assert.IsTrue(back.TryFindColumn("PredictedDigit", out var pd) && pd.ItemType == NumberDataViewType.Int32 && !pd.IsKey);
        var asText = ml.Transforms.Conversion.MapValueToKey("K", "Digit", addKeyValueAnnotationsAsText: true).GetOutputSchema(SchemaShape.Create(ints.Schema));
        Assert.IsTrue(asText.TryFindColumn("K", out var kt) && kt.Annotations!.TryFindColumn("KeyValues", out var ktv) && ktv.ItemType == TextDataViewType.Instance);
        // A key label shape error is named.
        var e = Assert.ThrowsExactly<ArgumentOutOfRangeException>(() => ml.Transforms.Conversion.MapKeyToValue("X", "Digit").GetOutputSchema(SchemaShape.Create(ints.Schema)));
        StringAssert.Contains(e.Message, "'Digit' is Int32, not a key column");

        // The fitted chain's DataViewSchema: keys with their key values, text PredictedLabel at the end.
        var (_, model, train) = s_canonical.Value;
        var schema = model.GetOutputSchema(train.Schema);
        Assert.AreEqual(new KeyDataViewType(typeof(uint), 10), schema["LabelAsKey"].Type);
        CollectionAssert.AreEqual(train.GetColumn<string>("Label").Distinct().ToArray(), schema["LabelAsKey"].GetKeyValues()!.ToArray());
        Assert.AreEqual(TextDataViewType.Instance, schema["PredictedLabel"].Type);
        var scoring = model.Take(5).Aggregate(train.Schema, (s, t) => t.GetOutputSchema(s));
        Assert.AreEqual(new KeyDataViewType(typeof(uint), 10), scoring["PredictedLabel"].Type, "the trainer's PredictedLabel is the key");
        CollectionAssert.AreEqual(schema["LabelAsKey"].GetKeyValues()!.ToArray(), scoring["PredictedLabel"].GetKeyValues()!.ToArray());
        Assert.AreEqual(SchemaShape.Create(schema).Select(c => c.ToString()).Last(), SchemaShape.Create(model.Transform(train).Schema).Select(c => c.ToString()).Last());
    }

    // ------------------------------------------------------------------------------------------------ key labels in the trainer

    [TestMethod]
    public void KeyLabelGivesAKeyPredictedLabelThatMapsBackAndMissingKeysAreSkippedOrNamed()
    {
        var ml = new MLContext(seed: 4);
        var (trainFolder, _) = s_folders.Value;
        // Integer labels (the class folder's number) in a typed view; keyData holds 0..8 as text, so class 9 has key 0.
        var rows = ml.Data.CreateEnumerable<EstimatorTestData.LabelledPath>(ml.Data.LoadFromImageFolder(trainFolder))
            .Select(r => new PathAndDigit { ImagePath = r.ImagePath, Digit = int.Parse(r.Label[..1], System.Globalization.CultureInfo.InvariantCulture) }).ToList();
        var data = ml.Data.LoadFromEnumerable(rows);
        var keyData = ml.Data.LoadFromEnumerable(Enumerable.Range(0, 9).Reverse().Select(i => new TextRow { Label = i.ToString(System.Globalization.CultureInfo.InvariantCulture) }).ToList());
        IEstimator<ITransformer> Pipeline(BadInputPolicy policy) =>
            ml.Transforms.Conversion.MapValueToKey("LabelAsKey", "Digit", keyOrdinality: ValueToKeyMappingEstimator.KeyOrdinality.ByValue, keyData: keyData)
                .Append(ml.Transforms.LoadImages("Image", null, "ImagePath", channels: 1))
                .Append(ml.Transforms.ExtractPixels("Features", "Image", scaleImage: 1f / 255))
                .Append(Tiny(ml, onBadInput: policy));

        int nines = rows.Count(r => r.Digit == 9);
        Assert.IsGreaterThan(0, nines);
        var e = Assert.ThrowsExactly<ImageDataException>(() => Pipeline(BadInputPolicy.Throw).Fit(data));
        StringAssert.Contains(e.Message, "label column 'LabelAsKey' holds the missing key 0 in row");
        StringAssert.Contains(e.Message, $"row {rows.FindIndex(r => r.Digit == 9)}");

        var log = new List<string>();
        ml.Log += (_, m) => { lock (log) log.Add(m.Message); };
        var model = (TransformerChain<AttentionBackboneTransformer>)Pipeline(BadInputPolicy.Skip).Fit(data);
        var backbone = model.LastTransformer;
        Assert.AreEqual(new KeyDataViewType(typeof(uint), 9), backbone.LabelType);
        CollectionAssert.AreEqual(Enumerable.Range(0, 9).Select(i => i.ToString(System.Globalization.CultureInfo.InvariantCulture)).ToArray(), backbone.Labels.ToArray(),
            "9 classes, the keyData's values sorted by value");
        lock (log) Assert.IsTrue(log.Any(l => l.Contains($"9 classes, input 1x28x28) on {rows.Count - nines} images", StringComparison.Ordinal)), "the rows of key 0 were skipped:\n" + string.Join("\n", log));

        var scored = model.Transform(data);
        var pl = scored.Schema["PredictedLabel"];
        Assert.AreEqual(new KeyDataViewType(typeof(uint), 9), pl.Type);
        CollectionAssert.AreEqual(backbone.Labels.ToArray(), pl.GetKeyValues()!.ToArray());
        Assert.IsTrue(pl.Annotations.TryGetValue<PrimitiveDataViewType>(DataViewSchema.AnnotationKinds.KeyValueType, out var kvt) && kvt == NumberDataViewType.Int32);
        var keys = ml.Data.CreateEnumerable<KeyPrediction>(scored).ToList();
        foreach (var p in keys)
        {
            Assert.HasCount(9, p.Score);
            Assert.AreEqual((uint)(Array.IndexOf(p.Score, p.Score.Max()) + 1), p.PredictedLabel, "PredictedLabel is the key of the most probable class");
        }
        var back = ml.Transforms.Conversion.MapKeyToValue("PredictedDigit", "PredictedLabel").Fit(scored).Transform(scored);
        CollectionAssert.AreEqual(keys.Select(p => (int)p.PredictedLabel - 1).ToArray(), back.GetColumn<int>("PredictedDigit").ToArray(),
            "key k maps back to the Int32 digit k - 1");
        var preview = scored.Preview(3);
        Assert.IsInstanceOfType<uint>(preview.ColumnView.Single(c => c.Column.Name == "PredictedLabel").Values[0]);

        // Evaluate on the key label: a row with the missing key is named.
        var ev = Assert.ThrowsExactly<InvalidOperationException>(() => ml.MulticlassClassification.Evaluate(scored, labelColumnName: "LabelAsKey"));
        StringAssert.Contains(ev.Message, "'LabelAsKey' holds the missing key 0 in row");
        var noNines = model.Transform(ml.Data.LoadFromEnumerable(rows.Where(r => r.Digit != 9).ToList()));
        Assert.AreEqual(9, ml.MulticlassClassification.Evaluate(noNines, labelColumnName: "LabelAsKey").ConfusionMatrix.NumberOfClasses);

        // Saved and reloaded: the key PredictedLabel and its Int32 key values survive.
        var path = Path.Combine(EstimatorTestData.NewFolder("keys-int"), "model.zip");
        ml.Model.Save(model, data.Schema, path);
        var loaded = new MLContext(1).Model.Load(path, out _);
        var rescored = loaded.Transform(data);
        Assert.AreEqual(pl.Type, rescored.Schema["PredictedLabel"].Type);
        CollectionAssert.AreEqual(keys.Select(k => k.PredictedLabel).ToArray(), rescored.GetColumn<uint>("PredictedLabel").ToArray());
        var engine = ml.Model.CreatePredictionEngine<PathAndDigit, KeyPrediction>(loaded);
        Assert.AreEqual(keys[0].PredictedLabel, engine.Predict(rows[0]).PredictedLabel, "a uint PredictedLabel read directly");
    }

    [TestMethod]
    public void AutoMlTakesAKeyLabelAndItsBestModelMapsBack()
    {
        var ml = new MLContext(seed: 1);
        var train = ml.Data.LoadFashionMnist(train: true, limit: 60);
        var validation = ml.Data.LoadFashionMnist(train: false, limit: 30);
        var toKey = ml.Transforms.Conversion.MapValueToKey("Label").Fit(train);   // the key replaces the text label
        var features = ml.Transforms.ExtractPixels("Features", "Image", scaleImage: 1f / 255);
        using var result = ml.Auto().CreateBackboneExperiment(new BackboneExperimentSettings
        {
            Backbones = [new BackboneChoice("resnet18", 0.125, SmallImage: true)],
            LearningRates = [0.05],
            BatchSizes = [30],
            MaxEpochPerCandidate = 1,
            MaxExperimentTime = TimeSpan.FromMinutes(10),
            Seed = 2,
            Workers = 0,
        }).Execute(toKey.Transform(train), toKey.Transform(validation), features);
        var best = result.BestBackbone;
        Assert.IsInstanceOfType<KeyDataViewType>(best.LabelType);
        CollectionAssert.AreEqual(toKey.KeyValues.ToArray(), best.Labels.ToArray(), "the classes are the key values in key order");
        var scored = result.BestModel.Transform(toKey.Transform(validation));
        Assert.IsInstanceOfType<KeyDataViewType>(scored.Schema["PredictedLabel"].Type);
        var back = ml.Transforms.Conversion.MapKeyToValue("PredictedText", "PredictedLabel").Fit(scored).Transform(scored);
        var texts = back.GetColumn<string>("PredictedText").ToArray();
        Assert.HasCount(30, texts);
        Assert.IsTrue(texts.All(t => toKey.KeyValues.Contains(t)), "the predicted keys map back to Fashion-MNIST class names");
        Assert.AreEqual(10, ml.MulticlassClassification.Evaluate(scored).ConfusionMatrix.NumberOfClasses);
    }
}
