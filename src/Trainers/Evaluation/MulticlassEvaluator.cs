using System.Globalization;

namespace MLNet.Attention.Trainers;

/// <summary>
/// Multiclass evaluation of class probabilities against labels, computed as ML.NET's
/// <c>MulticlassClassificationEvaluator</c> does (unweighted).
/// </summary>
public static class MulticlassEvaluator
{
    // ML.NET clamps the true class's probability with a float epsilon.
    private const float Epsilon = 1e-15f;

    /// <summary>Evaluates <paramref name="probabilities"/> (N × K, row-major) against <paramref name="labels"/> (N class indices).</summary>
    /// <param name="probabilities">One row of <paramref name="numberOfClasses"/> probabilities per instance (e.g. <see cref="TrainingEngine.PredictProbabilities"/>).</param>
    /// <param name="labels">The true class of each instance, in [0, <paramref name="numberOfClasses"/>).</param>
    /// <param name="numberOfClasses">K, the number of classes (columns).</param>
    /// <param name="topK">The K of <see cref="MulticlassMetrics.TopKAccuracy"/>; 0 leaves it out.</param>
    /// <param name="classNames">The class names for the confusion matrix (default "0", "1", …).</param>
    /// <exception cref="ArgumentOutOfRangeException"><paramref name="numberOfClasses"/> &lt; 1, <paramref name="topK"/> &lt; 0, or a label outside [0, K).</exception>
    /// <exception cref="ArgumentException">The sizes do not agree, there are no instances, or a probability is NaN or infinite.</exception>
    public static MulticlassMetrics Evaluate(ReadOnlySpan<float> probabilities, ReadOnlySpan<int> labels, int numberOfClasses, int topK = 5,
        IReadOnlyList<string>? classNames = null)
    {
        int k = numberOfClasses;
        if (k < 1) throw new ArgumentOutOfRangeException(nameof(numberOfClasses), numberOfClasses, "numberOfClasses must be >= 1");
        if (topK < 0) throw new ArgumentOutOfRangeException(nameof(topK), topK, "topK must be >= 0 (0: not computed)");
        int n = labels.Length;
        if (n == 0) throw new ArgumentException("there is nothing to evaluate: no labels", nameof(labels));
        if ((long)n * k != probabilities.Length)
            throw new ArgumentException($"expected {n} x {k} = {(long)n * k} probabilities (one row of {k} per label), got {probabilities.Length}", nameof(probabilities));
        if (classNames is not null && classNames.Count != k)
            throw new ArgumentException($"expected {k} class names, got {classNames.Count}", nameof(classNames));
        var names = classNames ?? Enumerable.Range(0, k).Select(i => i.ToString(CultureInfo.InvariantCulture)).ToArray();

        var confusion = new double[k][];
        for (int i = 0; i < k; i++) confusion[i] = new double[k];
        var classCount = new double[k];
        var classLogLoss = new double[k];
        double totalLogLoss = 0, correct = 0, correctTopK = 0;
        for (int r = 0; r < n; r++)
        {
            int label = labels[r];
            if ((uint)label >= (uint)k)
                throw new ArgumentOutOfRangeException(nameof(labels), label, $"label of instance {r} must be in [0, {k})");
            var row = probabilities.Slice(r * k, k);
            // The predicted class is the first maximum; the rank of the true class counts the classes ranked before it
            // in a stable descending sort (higher score, or equal score and lower index), as ML.NET's OrderByDescending.
            int assigned = 0, rank = 0;
            float truth = row[label];
            for (int c = 0; c < k; c++)
            {
                float s = row[c];
                if (!float.IsFinite(s))
                    throw new ArgumentException($"instance {r} has a non-finite probability ({s.ToString(CultureInfo.InvariantCulture)}) for class {c}", nameof(probabilities));
                if (s > row[assigned]) assigned = c;
                if (s > truth || (s == truth && c < label)) rank++;
            }
            float p = Math.Min(1f, Math.Max(Epsilon, truth));
            double logLoss = -Math.Log(p);
            totalLogLoss += logLoss;
            classLogLoss[label] += logLoss;
            classCount[label]++;
            confusion[label][assigned]++;
            if (assigned == label) correct++;
            if (rank < topK) correctTopK++;
        }

        double micro = correct / n;
        double macroSum = 0;
        int nonEmpty = 0;
        double entropy = 0;
        var perClassLogLoss = new double[k];
        for (int c = 0; c < k; c++)
        {
            if (classCount[c] <= 0) continue;
            nonEmpty++;
            macroSum += confusion[c][c] / classCount[c];
            perClassLogLoss[c] = classLogLoss[c] / classCount[c];
            entropy += classCount[c] * Math.Log(classCount[c] / n);
        }
        entropy /= -n;
        double logLossMean = totalLogLoss / n;
        double reduction = (entropy - logLossMean) / entropy;
        return new MulticlassMetrics(micro, macroSum / nonEmpty, logLossMean, reduction, topK > 0 ? correctTopK / n : 0, topK,
            perClassLogLoss, new ConfusionMatrix(confusion, names));
    }
}
