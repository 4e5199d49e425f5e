using MLNet.Attention.Data;
using MLNet.Attention.Estimators;
using MLNet.Attention.Transforms;
using static MLNet.Attention.Tests.Estimators.EstimatorTestData;

namespace MLNet.Attention.Tests.Estimators;

/// <summary>
/// The data layer: loaders (image folder, CSV, typed rows, text files, IDX), schemas with types and vector sizes,
/// laziness (nothing decoded until a cursor reads it), previews, splits, typed reading, and batched scoring.
/// </summary>
[TestClass]
public sealed class DataViewTests
{
    /// <summary>A row with a vector, a renamed member and one left out.</summary>
    public sealed class VectorRow
    {
        public string Name { get; set; } = "";
        [VectorType(2, 3)]
        public float[] Values { get; set; } = Array.Empty<float>();
        [ColumnName("Count")]
        public int N { get; set; }
        [NoColumn]
        public string Ignored { get; set; } = "x";
    }

    /// <summary>A CSV row read by field index.</summary>
    public sealed class CsvRow
    {
        [LoadColumn(0)]
        public string ImagePath { get; set; } = "";
        [LoadColumn(1)]
        public string Label { get; set; } = "";
        [LoadColumn(2, 3)]
        public float[] Box { get; set; } = Array.Empty<float>();
    }

    [TestMethod]
    public void ImageFolderIsAViewOfPathsAndLabels()
    {
        var ml = new MLContext(seed: 1);
        var data = ml.Data.LoadFromImageFolder(TrainFolder);
        Assert.AreEqual(2, data.Schema.Count);
        Assert.AreEqual(TextDataViewType.Instance, data.Schema["ImagePath"].Type);
        Assert.AreEqual(TextDataViewType.Instance, data.Schema["Label"].Type);
        Assert.AreEqual(300L, data.GetRowCount());
        var labels = data.GetColumn<string>("Label").ToList();
        Assert.HasCount(300, labels);
        Assert.AreEqual(10, labels.Distinct().Count());
        Assert.IsTrue(labels.GroupBy(l => l).All(g => g.Count() == 30));
        var paths = data.GetColumn<ReadOnlyMemory<char>>("ImagePath").Select(m => m.ToString()).ToList();
        Assert.IsTrue(paths.All(File.Exists), "ML.NET's ReadOnlyMemory<char> getter reads text too");
    }

    [TestMethod]
    public void TransformsAreLazyAndComputeOnlyWhatIsRead()
    {
        var ml = new MLContext(seed: 1);
        var folder = NewFolder("lazy");
        var rows = new[] { new LabelledPath { ImagePath = Path.Combine(folder, "missing.png"), Label = "a" } };
        var view = ml.Transforms.LoadImages("Image", null, "ImagePath").Fit(ml.Data.LoadFromEnumerable(rows)).Transform(ml.Data.LoadFromEnumerable(rows));
        Assert.AreEqual(new ImageDataViewType(0, 0, 3), view.Schema["Image"].Type, "the schema is known before any image is read");
        CollectionAssert.AreEqual(new[] { "a" }, view.GetColumn<string>("Label").ToArray(), "reading other columns decodes nothing");
        var e = Assert.ThrowsExactly<ImageDataException>(() => view.GetColumn<ImageData>("Image").ToList());
        StringAssert.Contains(e.Message, "missing.png", "the image is decoded when its column is read, and the error names the file");
    }

    [TestMethod]
    public void PreviewShowsDecodedRows()
    {
        var ml = new MLContext(seed: 1);
        var data = ml.Data.LoadFromImageFolder(TrainFolder);
        var view = ml.Transforms.LoadImages("Image", null, "ImagePath", channels: 1)
            .Append(ml.Transforms.ExtractPixels("Pixels", "Image"))
            .Fit(data).Transform(data);
        var preview = view.Preview(maxRows: 5);
        Assert.HasCount(5, preview.RowView);
        Assert.HasCount(4, preview.ColumnView);
        var img = (ImageData)preview.ColumnView[2].Values[0]!;
        Assert.AreEqual((28, 28, 1), (img.Width, img.Height, img.Channels));
        var pixels = (float[])preview.RowView[0].Values.Single(v => v.Key == "Pixels").Value!;
        Assert.HasCount(784, pixels);
        Assert.AreEqual(img.Pixels[400], pixels[400], "ExtractPixels' defaults keep 0..255 values");
        StringAssert.Contains(preview.ToString(), "Pixels: Vector<Single>");
    }

    [TestMethod]
    public void TypedRowsRoundTripThroughCreateEnumerable()
    {
        var ml = new MLContext(seed: 1);
        var rows = Enumerable.Range(0, 5).Select(i => new VectorRow { Name = $"r{i}", Values = Enumerable.Range(0, 6).Select(v => (float)(i * 10 + v)).ToArray(), N = i }).ToList();
        var data = ml.Data.LoadFromEnumerable(rows);
        CollectionAssert.AreEqual(new[] { "Name", "Values", "Count" }, data.Schema.Select(c => c.Name).ToArray(), "[NoColumn] leaves a member out, [ColumnName] renames one");
        var vt = (VectorDataViewType)data.Schema["Values"].Type;
        CollectionAssert.AreEqual(new[] { 2, 3 }, vt.Dimensions.ToArray());
        Assert.AreEqual(6, vt.Size);
        Assert.AreEqual(NumberDataViewType.Int32, data.Schema["Count"].Type);
        var back = ml.Data.CreateEnumerable<VectorRow>(data).ToList();
        for (int i = 0; i < rows.Count; i++)
        {
            Assert.AreEqual(rows[i].Name, back[i].Name);
            CollectionAssert.AreEqual(rows[i].Values, back[i].Values);
            Assert.AreEqual(rows[i].N, back[i].N);
        }
        using var cursor = data.GetRowCursor(data.Schema["Values"]);
        var getter = cursor.GetGetter<VBuffer<float>>(data.Schema["Values"]);
        Assert.IsTrue(cursor.MoveNext());
        VBuffer<float> buffer = default;
        getter(ref buffer);
        CollectionAssert.AreEqual(rows[0].Values, buffer.DenseValues().ToArray(), "vectors read as ML.NET's VBuffer too");
        var e = Assert.ThrowsExactly<InvalidOperationException>(() => cursor.GetGetter<float>(data.Schema["Name"]));
        StringAssert.Contains(e.Message, "column 'Name' holds String");
        e = Assert.ThrowsExactly<InvalidOperationException>(() => cursor.GetGetter<int>(data.Schema["Count"]));
        StringAssert.Contains(e.Message, "not active", "a column not asked for has no getter");
        Assert.IsFalse(rows.Select(r => r.Ignored).Distinct().Count() != 1);
    }

    [TestMethod]
    public void TextFilesLoadByFieldIndexAndCsvPathsResolve()
    {
        var ml = new MLContext(seed: 1);
        var folder = NewFolder("csv");
        var files = Directory.GetFiles(TrainFolder, "*.png", SearchOption.AllDirectories).Order(StringComparer.Ordinal).Take(6).ToArray();
        foreach (var f in files) File.Copy(f, Path.Combine(folder, Path.GetFileName(f)));
        var lines = files.Select((f, i) => $"{Path.GetFileName(f)},{(i % 2 == 0 ? "even" : "odd")},{i}.5,{i * 2}").ToArray();
        var csv = Path.Combine(folder, "data.csv");
        File.WriteAllLines(csv, new[] { "path,label,x,y" }.Concat(lines));

        var typed = ml.Data.LoadFromTextFile<CsvRow>(csv, ',', hasHeader: true);
        Assert.AreEqual(new VectorDataViewType(NumberDataViewType.Single, 2), typed.Schema["Box"].Type);
        var rows = ml.Data.CreateEnumerable<CsvRow>(typed).ToList();
        Assert.HasCount(6, rows);
        CollectionAssert.AreEqual(new[] { 3.5f, 6f }, rows[3].Box);
        Assert.AreEqual("odd", rows[3].Label);

        var view = ml.Data.LoadFromTextFile(csv, hasHeader: true);
        var paths = view.GetColumn<string>("ImagePath").ToList();
        CollectionAssert.AreEqual(files.Select(f => Path.Combine(folder, Path.GetFileName(f))).ToArray(), paths.ToArray(), "relative paths are resolved against the CSV's folder");
        CollectionAssert.AreEqual(new[] { "even", "odd", "even", "odd", "even", "odd" }, view.GetColumn<string>("Label").ToArray());

        File.WriteAllLines(csv, new[] { "a.png,even,1.5,x" });
        var bad = ml.Data.LoadFromTextFile<CsvRow>(csv);
        var e = Assert.ThrowsExactly<InvalidDataException>(() => ml.Data.CreateEnumerable<CsvRow>(bad).ToList());
        StringAssert.Contains(e.Message, "line 1");
        StringAssert.Contains(e.Message, "'Box'");
    }

    [TestMethod]
    public void FashionMnistIdxLoadsAsGrayImages()
    {
        var ml = new MLContext(seed: 1);
        var data = ml.Data.LoadFashionMnist(train: false, limit: 20);
        Assert.AreEqual(new ImageDataViewType(28, 28, 1), data.Schema["Image"].Type);
        Assert.AreEqual(20L, data.GetRowCount());
        var idx = IdxDataset.FashionMnist(train: false);
        var first = data.GetColumn<ImageData>("Image").First();
        CollectionAssert.AreEqual(idx.Images.AsSpan(0, 784).ToArray(), first.Pixels);
        Assert.AreEqual(IdxDataset.FashionMnistClasses[idx.Labels[0]], data.GetColumn<string>("Label").First());
    }

    [TestMethod]
    public void TrainTestSplitIsSeededStratifiedAndDisjoint()
    {
        var ml = new MLContext(seed: 1);
        var data = ml.Data.LoadFromImageFolder(TrainFolder);
        var split = ml.Data.TrainTestSplit(data, testFraction: 0.2, seed: 5, stratified: true);
        var train = split.TrainSet.GetColumn<string>("ImagePath").ToList();
        var test = split.TestSet.GetColumn<string>("ImagePath").ToList();
        Assert.HasCount(240, train);
        Assert.HasCount(60, test);
        Assert.IsEmpty(train.Intersect(test));
        Assert.IsTrue(split.TestSet.GetColumn<string>("Label").GroupBy(l => l).All(g => g.Count() == 6), "every class split 80/20");
        var again = ml.Data.TrainTestSplit(data, testFraction: 0.2, seed: 5, stratified: true).TestSet.GetColumn<string>("ImagePath").ToList();
        CollectionAssert.AreEqual(test, again, "the same seed gives the same split");
        var other = ml.Data.TrainTestSplit(data, testFraction: 0.2, seed: 6, stratified: true).TestSet.GetColumn<string>("ImagePath").ToList();
        CollectionAssert.AreNotEqual(test, other);

        var keyed = ml.Data.TrainTestSplit(data, testFraction: 0.3, samplingKeyColumnName: "Label", seed: 1);
        var testLabels = keyed.TestSet.GetColumn<string>("Label").Distinct().ToHashSet();
        Assert.IsFalse(keyed.TrainSet.GetColumn<string>("Label").Any(testLabels.Contains), "rows with the same sampling key stay on one side");
    }

    [TestMethod]
    public void ScoringRunsOneForwardPassPerBatch()
    {
        var ml = new MLContext(seed: 1);
        var data = ml.Data.LoadFashionMnist(train: false, limit: 70);
        var model = ml.Transforms.ExtractPixels("Features", "Image", scaleImage: 1f / 255)
            .Append(ml.MulticlassClassification.Trainers.SeResNet(new AttentionBackboneTrainer.Options
            {
                Arch = "resnet18", SmallImage = true, WidthMultiplier = 0.125, MaxEpoch = 1, BatchSize = 32, Workers = 0,
            }))
            .Fit(data);
        var backbone = model.LastTransformer;
        long before = backbone.ForwardPasses;
        var scored = model.Transform(data);
        Assert.AreEqual(before, backbone.ForwardPasses, "Transform is lazy");
        Assert.HasCount(70, scored.GetColumn<string>("Label").ToList());
        Assert.AreEqual(before, backbone.ForwardPasses, "a cursor that reads no output column scores nothing");
        var scores = scored.GetColumn<float[]>("Score").ToList();
        Assert.AreEqual(before + 3, backbone.ForwardPasses, "70 rows in batches of 32: three forward passes");
        Assert.HasCount(70, scores);
        var labels = scored.GetColumn<string>("Label").ToList();
        var labelsAndScores = ml.Data.CreateEnumerable<Prediction>(scored).ToList();
        CollectionAssert.AreEqual(labels, labelsAndScores.Select(p => p.Label).ToList(), "pass-through columns stay aligned with their scores");
        for (int i = 0; i < 70; i++) CollectionAssert.AreEqual(scores[i], labelsAndScores[i].Score);
    }
}
