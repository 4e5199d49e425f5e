using System.Globalization;
using System.Text;

namespace MLNet.Attention.Trainers;

/// <summary>
/// The result of a multiclass evaluation, with ML.NET's names and definitions (<c>MulticlassClassificationMetrics</c>).
/// Made by <see cref="MulticlassEvaluator.Evaluate"/>.
/// </summary>
public sealed class MulticlassMetrics
{
    internal MulticlassMetrics(double micro, double macro, double logLoss, double logLossReduction, double topK, int topKCount,
        double[] perClassLogLoss, ConfusionMatrix confusionMatrix)
    {
        MicroAccuracy = micro;
        MacroAccuracy = macro;
        LogLoss = logLoss;
        LogLossReduction = logLossReduction;
        TopKAccuracy = topK;
        TopKPredictionCount = topKCount;
        PerClassLogLoss = Array.AsReadOnly(perClassLogLoss);
        ConfusionMatrix = confusionMatrix;
    }

    /// <summary>The fraction of instances whose predicted class (the highest probability; the lowest index among ties) is the true class.</summary>
    public double MicroAccuracy { get; }

    /// <summary>The mean over the classes that have instances of each class's accuracy (its recall): every class weighs the same.</summary>
    public double MacroAccuracy { get; }

    /// <summary>The mean of <c>-ln(p)</c> with <c>p</c> the probability given to the true class, clamped to [1e-15, 1] (as a float, as ML.NET does).</summary>
    public double LogLoss { get; }

    /// <summary>
    /// <c>(LogLoss(prior) - LogLoss) / LogLoss(prior)</c>, the advantage over always predicting the class frequencies
    /// of the labels (whose log-loss is their entropy): 1 for perfect predictions, 0 for the prior, negative when
    /// worse. When every label is the same class the prior's log-loss is 0 and the value is -∞ (or NaN for a log-loss of 0).
    /// </summary>
    public double LogLossReduction { get; }

    /// <summary>The fraction of instances whose true class is among the <see cref="TopKPredictionCount"/> highest probabilities (ties ranked by class index); 0 when not computed.</summary>
    public double TopKAccuracy { get; }

    /// <summary>The K of <see cref="TopKAccuracy"/> (0: not computed).</summary>
    public int TopKPredictionCount { get; }

    /// <summary>The mean log-loss of the instances of each class (0 for a class without instances).</summary>
    public IReadOnlyList<double> PerClassLogLoss { get; }

    /// <summary>Counts of true versus predicted classes, with per-class precision and recall.</summary>
    public ConfusionMatrix ConfusionMatrix { get; }

    /// <summary>The metrics, one per line, followed by the confusion table.</summary>
    public override string ToString()
    {
        var ic = CultureInfo.InvariantCulture;
        var sb = new StringBuilder();
        sb.Append("MicroAccuracy:    ").AppendLine(MicroAccuracy.ToString("F4", ic));
        sb.Append("MacroAccuracy:    ").AppendLine(MacroAccuracy.ToString("F4", ic));
        sb.Append("LogLoss:          ").AppendLine(LogLoss.ToString("F4", ic));
        sb.Append("LogLossReduction: ").AppendLine(LogLossReduction.ToString("F4", ic));
        if (TopKPredictionCount > 0)
            sb.Append("Top").Append(TopKPredictionCount.ToString(ic)).Append("Accuracy:     ").AppendLine(TopKAccuracy.ToString("F4", ic));
        sb.Append(ConfusionMatrix.GetFormattedConfusionTable());
        return sb.ToString();
    }
}
