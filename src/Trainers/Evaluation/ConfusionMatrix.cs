using System.Globalization;
using System.Text;

namespace MLNet.Attention.Trainers;

/// <summary>
/// The confusion matrix of a multiclass evaluation, as ML.NET's <c>ConfusionMatrix</c>: rows are the true classes,
/// columns the predicted classes; per-class precision (of each column) and recall (of each row).
/// </summary>
public sealed class ConfusionMatrix
{
    private readonly double[][] _counts;

    internal ConfusionMatrix(double[][] counts, IReadOnlyList<string> classNames)
    {
        int k = counts.Length;
        _counts = counts;
        ClassNames = classNames.ToArray();
        var rowSums = new double[k];
        var colSums = new double[k];
        for (int t = 0; t < k; t++)
            for (int p = 0; p < k; p++)
            {
                rowSums[t] += counts[t][p];
                colSums[p] += counts[t][p];
            }
        var precision = new double[k];
        var recall = new double[k];
        for (int c = 0; c < k; c++)
        {
            precision[c] = colSums[c] > 0 ? counts[c][c] / colSums[c] : 0;
            recall[c] = rowSums[c] > 0 ? counts[c][c] / rowSums[c] : 0;
        }
        PerClassPrecision = precision;
        PerClassRecall = recall;
        Counts = counts.Select(r => (IReadOnlyList<double>)Array.AsReadOnly(r)).ToArray();
    }

    /// <summary>Number of classes (rows and columns).</summary>
    public int NumberOfClasses => _counts.Length;

    /// <summary>
    /// The counts: <c>Counts[truth][predicted]</c> is the number of instances of class <c>truth</c> predicted as
    /// <c>predicted</c> (ML.NET: <c>ConfusionTableCounts</c>).
    /// </summary>
    public IReadOnlyList<IReadOnlyList<double>> Counts { get; }

    /// <summary>
    /// Precision of each class: correct predictions of the class over all predictions of it (its column); 0 for a
    /// class that was never predicted.
    /// </summary>
    public IReadOnlyList<double> PerClassPrecision { get; }

    /// <summary>
    /// Recall of each class: correct predictions of the class over its instances (its row); 0 for a class without
    /// instances.
    /// </summary>
    public IReadOnlyList<double> PerClassRecall { get; }

    /// <summary>The class names, indexed by class (ML.NET: <c>PredictedClassesIndicators</c>).</summary>
    public IReadOnlyList<string> ClassNames { get; }

    /// <summary>The count of instances of class <paramref name="actualClass"/> predicted as <paramref name="predictedClass"/>.</summary>
    /// <exception cref="ArgumentOutOfRangeException">A class index is outside [0, <see cref="NumberOfClasses"/>).</exception>
    public double GetCountForClassPair(int predictedClass, int actualClass)
    {
        if ((uint)predictedClass >= (uint)NumberOfClasses)
            throw new ArgumentOutOfRangeException(nameof(predictedClass), predictedClass, $"must be in [0, {NumberOfClasses})");
        if ((uint)actualClass >= (uint)NumberOfClasses)
            throw new ArgumentOutOfRangeException(nameof(actualClass), actualClass, $"must be in [0, {NumberOfClasses})");
        return _counts[actualClass][predictedClass];
    }

    /// <summary>
    /// The table as text, laid out as ML.NET's <c>GetFormattedConfusionTable()</c>: a "PREDICTED" header of class
    /// names (or of class indices, with "i. name" row labels, when a name is longer than the column), one "TRUTH" row
    /// per class with its counts and recall, and a "Precision" row. Numbers use the invariant culture.
    /// </summary>
    public string GetFormattedConfusionTable()
    {
        int k = NumberOfClasses;
        var ic = CultureInfo.InvariantCulture;
        int colWidth = k == 2 ? 8 : 5;
        int maxName = ClassNames.Count == 0 ? 0 : ClassNames.Max(n => n.Length);
        bool numbersInHeader = maxName > colWidth;
        int digits = numbersInHeader ? Math.Max(k - 1, 0).ToString(ic).Length : 0;
        int rowLabelLen = numbersInHeader ? maxName + digits + 2 : maxName;
        int labelWidth = Math.Max(9, rowLabelLen);          // "PREDICTED" is 9 characters
        string pad = new(' ', labelWidth - 9);
        string rule = string.Concat(Enumerable.Repeat(k > 2 ? "========" : "===========", k));

        var sb = new StringBuilder();
        sb.AppendLine();
        sb.AppendLine("Confusion table");
        sb.Append("          ").Append(pad).Append("||").AppendLine(rule);
        sb.Append("PREDICTED ").Append(pad).Append("||");
        for (int c = 0; c < k; c++)
            sb.Append(' ').Append((numbersInHeader ? c.ToString(ic) : ClassNames[c]).PadLeft(colWidth)).Append(" |");
        sb.AppendLine(" Recall");
        sb.Append("TRUTH     ").Append(pad).Append("||").AppendLine(rule);
        for (int t = 0; t < k; t++)
        {
            string label = numbersInHeader
                ? t.ToString(ic).PadLeft(digits) + ". " + ClassNames[t].PadLeft(labelWidth - digits - 2)
                : ClassNames[t].PadLeft(labelWidth);
            sb.Append(label).Append(" ||");
            for (int p = 0; p < k; p++)
                sb.Append(' ').Append(_counts[t][p].ToString("N0", ic).PadLeft(colWidth)).Append(" |");
            sb.Append(' ').Append(PerClassRecall[t].ToString("F4", ic).PadLeft(5));
            sb.AppendLine();
        }
        sb.Append("          ").Append(pad).Append("||").AppendLine(rule);
        sb.Append("Precision ").Append(pad).Append("||");
        for (int p = 0; p < k; p++)
            sb.Append(PerClassPrecision[p].ToString("N4", ic).PadLeft(colWidth + 1)).Append(" |");
        sb.AppendLine();
        return sb.ToString();
    }

    /// <inheritdoc/>
    public override string ToString() => GetFormattedConfusionTable();
}
