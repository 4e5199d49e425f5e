using MLNet.Attention.Trainers;

namespace MLNet.Attention.Tests.Trainers;

/// <summary>
/// Multiclass metrics against values worked out by hand (ML.NET's definitions: first maximum is the prediction,
/// stable ranking for top-k, float clamp of the true probability at 1e-15, entropy of the label frequencies as the
/// prior's log-loss).
/// </summary>
[TestClass]
public sealed class MulticlassEvaluatorTests
{
    // Six instances, three classes. Per row: prediction (first maximum) and rank of the true class.
    private static readonly float[] Probs =
    [
        0.7f, 0.2f, 0.1f,   // label 0: predicted 0, rank 0
        0.1f, 0.6f, 0.3f,   // label 1: predicted 1, rank 0
        0.2f, 0.5f, 0.3f,   // label 0: predicted 1, rank 2
        0.3f, 0.3f, 0.4f,   // label 2: predicted 2, rank 0
        0.4f, 0.4f, 0.2f,   // label 1: tie -> predicted 0 (first maximum), rank 1 (class 0 ranks before it)
        0.0f, 0.1f, 0.9f,   // label 0: predicted 2, rank 2, p = 0 clamped to 1e-15
    ];
    private static readonly int[] Labels = [0, 1, 0, 2, 1, 0];

    // -ln of each true-class probability, as floats: 0.7, 0.6, 0.2, 0.4, 0.4, 1e-15.
    private const double L07 = 0.35667496096863105, L06 = 0.5108255840295616, L02 = 1.6094378975329393,
        L04 = 0.916290716972994, LEps = 34.53877639128319;

    [TestMethod]
    public void MetricsEqualHandComputedValues()
    {
        var m = MulticlassEvaluator.Evaluate(Probs, Labels, 3, topK: 2, classNames: ["a", "b", "c"]);

        Assert.AreEqual(3.0 / 6, m.MicroAccuracy, 1e-12);                        // rows 0, 1, 3
        Assert.AreEqual((1.0 / 3 + 1.0 / 2 + 1.0) / 3, m.MacroAccuracy, 1e-12);  // recalls 1/3, 1/2, 1/1
        double logLoss = (L07 + L06 + L02 + L04 + L04 + LEps) / 6;                // 6.474716044626718
        Assert.AreEqual(logLoss, m.LogLoss, 1e-9);
        Assert.AreEqual(6.474716044626718, m.LogLoss, 1e-9);
        // Prior: frequencies 3/6, 2/6, 1/6; entropy = 1.0114042647073516.
        double entropy = -(0.5 * Math.Log(0.5) + Math.Log(1.0 / 3) / 3 + Math.Log(1.0 / 6) / 6);
        Assert.AreEqual(1.0114042647073516, entropy, 1e-12);
        Assert.AreEqual(1 - logLoss / entropy, m.LogLossReduction, 1e-9);
        Assert.AreEqual(-5.4017092576727155, m.LogLossReduction, 1e-9);
        Assert.AreEqual(2, m.TopKPredictionCount);
        Assert.AreEqual(4.0 / 6, m.TopKAccuracy, 1e-12);                          // rows 0, 1, 3, 4
        Assert.HasCount(3, m.PerClassLogLoss);
        Assert.AreEqual((L07 + L02 + LEps) / 3, m.PerClassLogLoss[0], 1e-9);
        Assert.AreEqual((L06 + L04) / 2, m.PerClassLogLoss[1], 1e-9);
        Assert.AreEqual(L04, m.PerClassLogLoss[2], 1e-9);

        var cm = m.ConfusionMatrix;
        Assert.AreEqual(3, cm.NumberOfClasses);
        CollectionAssert.AreEqual(new[] { 1.0, 1.0, 1.0 }, cm.Counts[0].ToArray());   // truth a
        CollectionAssert.AreEqual(new[] { 1.0, 1.0, 0.0 }, cm.Counts[1].ToArray());   // truth b
        CollectionAssert.AreEqual(new[] { 0.0, 0.0, 1.0 }, cm.Counts[2].ToArray());   // truth c
        Assert.AreEqual(1.0, cm.GetCountForClassPair(predictedClass: 0, actualClass: 1));
        Assert.AreEqual(0.0, cm.GetCountForClassPair(predictedClass: 2, actualClass: 1));
        CollectionAssert.AreEqual(new[] { 0.5, 0.5, 0.5 }, cm.PerClassPrecision.ToArray());
        CollectionAssert.AreEqual(new[] { 1.0 / 3, 0.5, 1.0 }, cm.PerClassRecall.ToArray());
        CollectionAssert.AreEqual(new[] { "a", "b", "c" }, cm.ClassNames.ToArray());
    }

    [TestMethod]
    public void TopOneAccuracyIsMicroAccuracyAndLargeKCountsEverything()
    {
        var top1 = MulticlassEvaluator.Evaluate(Probs, Labels, 3, topK: 1);
        Assert.AreEqual(top1.MicroAccuracy, top1.TopKAccuracy, 1e-15);
        var top3 = MulticlassEvaluator.Evaluate(Probs, Labels, 3, topK: 3);
        Assert.AreEqual(1.0, top3.TopKAccuracy);
        var none = MulticlassEvaluator.Evaluate(Probs, Labels, 3, topK: 0);
        Assert.AreEqual(0, none.TopKPredictionCount);
        Assert.AreEqual(0.0, none.TopKAccuracy);
        CollectionAssert.AreEqual(new[] { "0", "1", "2" }, none.ConfusionMatrix.ClassNames.ToArray());
    }

    [TestMethod]
    public void PerfectPredictionsAndTheClassPrior()
    {
        float[] perfect = [1, 0, 0, 0, 1, 0, 0, 1, 0, 0, 0, 1];
        int[] labels = [0, 1, 1, 2];
        var m = MulticlassEvaluator.Evaluate(perfect, labels, 3);
        Assert.AreEqual(1.0, m.MicroAccuracy);
        Assert.AreEqual(1.0, m.MacroAccuracy);
        Assert.AreEqual(0.0, m.LogLoss);
        Assert.AreEqual(1.0, m.LogLossReduction);

        // Predicting the label frequencies (1/4, 2/4, 1/4) for every row has the prior's log-loss: reduction 0.
        float[] prior = [.. Enumerable.Repeat(new[] { 0.25f, 0.5f, 0.25f }, 4).SelectMany(r => r)];
        var p = MulticlassEvaluator.Evaluate(prior, labels, 3);
        Assert.AreEqual(0.0, p.LogLossReduction, 1e-7);
        Assert.AreEqual(-(Math.Log(0.25) + 2 * Math.Log(0.5) + Math.Log(0.25)) / 4, p.LogLoss, 1e-7);
        Assert.AreEqual(0.5, p.MicroAccuracy);        // always class 1
        Assert.AreEqual(1.0 / 3, p.MacroAccuracy, 1e-12);
    }

    [TestMethod]
    public void ClassesWithoutInstancesAreLeftOutOfMacroAccuracy()
    {
        // Class 2 never occurs: macro accuracy averages classes 0 and 1 only; its per-class log-loss and recall are 0.
        float[] probs = [0.8f, 0.1f, 0.1f, 0.3f, 0.2f, 0.5f, 0.1f, 0.8f, 0.1f];
        int[] labels = [0, 1, 1];
        var m = MulticlassEvaluator.Evaluate(probs, labels, 3);
        Assert.AreEqual(2.0 / 3, m.MicroAccuracy, 1e-12);
        Assert.AreEqual((1.0 + 0.5) / 2, m.MacroAccuracy, 1e-12);
        Assert.AreEqual(0.0, m.PerClassLogLoss[2]);
        Assert.AreEqual(0.0, m.ConfusionMatrix.PerClassRecall[2]);
        Assert.AreEqual(0.0, m.ConfusionMatrix.PerClassPrecision[2]);   // predicted once (row 1), wrongly
        Assert.AreEqual(1.0, m.ConfusionMatrix.Counts[1][2]);
    }

    [TestMethod]
    public void FormattedTableHasMlNetLayout()
    {
        var m = MulticlassEvaluator.Evaluate(Probs, Labels, 3, classNames: ["a", "b", "c"]);
        string expected = string.Join(Environment.NewLine,
            "",
            "Confusion table",
            "          ||========================",
            "PREDICTED ||     a |     b |     c | Recall",
            "TRUTH     ||========================",
            "        a ||     1 |     1 |     1 | 0.3333",
            "        b ||     1 |     1 |     0 | 0.5000",
            "        c ||     0 |     0 |     1 | 1.0000",
            "          ||========================",
            "Precision ||0.5000 |0.5000 |0.5000 |",
            "");
        Assert.AreEqual(expected, m.ConfusionMatrix.GetFormattedConfusionTable());
    }

    [TestMethod]
    public void LongClassNamesAreNumberedInTheHeader()
    {
        string[] names = ["T-shirt/top", "Trouser"];
        float[] probs = [0.9f, 0.1f, 0.2f, 0.8f, 0.6f, 0.4f];
        var table = MulticlassEvaluator.Evaluate(probs, [0, 1, 1], 2, classNames: names).ConfusionMatrix.GetFormattedConfusionTable();
        var lines = table.Split(Environment.NewLine);
        Assert.AreEqual("PREDICTED      ||        0 |        1 | Recall", lines[3]);
        Assert.AreEqual("0. T-shirt/top ||        1 |        0 | 1.0000", lines[5]);
        Assert.AreEqual("1.     Trouser ||        1 |        1 | 0.5000", lines[6]);
        Assert.AreEqual("Precision      ||   0.5000 |   1.0000 |", lines[8]);
    }

    [TestMethod]
    public void BadArgumentsAreRejected()
    {
        Assert.ThrowsExactly<ArgumentException>(() => MulticlassEvaluator.Evaluate(new float[5], new int[2], 3));
        Assert.ThrowsExactly<ArgumentException>(() => MulticlassEvaluator.Evaluate([], [], 3));
        var e = Assert.ThrowsExactly<ArgumentOutOfRangeException>(() => MulticlassEvaluator.Evaluate(new float[6], [0, 3], 3));
        Assert.AreEqual("labels", e.ParamName);
        Assert.ThrowsExactly<ArgumentOutOfRangeException>(() => MulticlassEvaluator.Evaluate(new float[6], [0, -1], 3));
        Assert.ThrowsExactly<ArgumentOutOfRangeException>(() => MulticlassEvaluator.Evaluate(new float[3], [0], 0));
        Assert.ThrowsExactly<ArgumentOutOfRangeException>(() => MulticlassEvaluator.Evaluate(new float[3], [0], 3, topK: -1));
        Assert.ThrowsExactly<ArgumentException>(() => MulticlassEvaluator.Evaluate([float.NaN, 0.5f, 0.5f], [0], 3));
        Assert.ThrowsExactly<ArgumentException>(() => MulticlassEvaluator.Evaluate(new float[3], [0], 3, classNames: ["x"]));
    }
}
