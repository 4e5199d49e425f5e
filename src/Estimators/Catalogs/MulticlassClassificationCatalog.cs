using MLNet.Attention.Data;
using MLNet.Attention.Estimators;
using MLNet.Attention.Trainers;

namespace MLNet.Attention;

/// <summary>Multiclass classification: the trainers (<see cref="Trainers"/>) and <see cref="Evaluate"/> (ML.NET's <c>MulticlassClassificationCatalog</c>).</summary>
public sealed class MulticlassClassificationCatalog
{
    private readonly MLContext _env;

    internal MulticlassClassificationCatalog(MLContext env)
    {
        _env = env;
        Trainers = new MulticlassClassificationTrainers(env);
    }

    /// <summary>The trainers; each is an extension method of <see cref="AttentionTrainersCatalog"/>.</summary>
    public MulticlassClassificationTrainers Trainers { get; }

    /// <summary>The trainers' catalog (ML.NET's <c>MulticlassClassificationTrainers</c>).</summary>
    public sealed class MulticlassClassificationTrainers
    {
        internal MulticlassClassificationTrainers(MLContext env) => Environment = env;

        internal MLContext Environment { get; }
    }

    /// <summary>
    /// Evaluates scored data (ML.NET's <c>Evaluate</c>): micro and macro accuracy, log loss and its reduction, top-K
    /// accuracy, per-class log loss and the confusion matrix. The classes are the score column's slot names (the
    /// trainer's labels); a label that is not one of them is an error naming it and the row.
    /// </summary>
    /// <param name="data">Scored data (a trained model's <c>Transform</c> output).</param>
    /// <param name="labelColumnName">The true labels (text or integers, as trained, or a key column: its key values name the classes).</param>
    /// <param name="scoreColumnName">The class probabilities.</param>
    /// <param name="predictedLabelColumnName">The predicted label (checked to exist, as ML.NET does).</param>
    /// <param name="topKPredictionCount">The K of top-K accuracy; 0 leaves it out.</param>
    public MulticlassMetrics Evaluate(IDataView data, string labelColumnName = DefaultColumnNames.Label, string scoreColumnName = DefaultColumnNames.Score,
        string predictedLabelColumnName = DefaultColumnNames.PredictedLabel, int topKPredictionCount = 0)
    {
        ArgumentNullException.ThrowIfNull(data);
        var s = data.Schema;
        var label = s.GetColumnOrNull(labelColumnName) ?? throw new ArgumentOutOfRangeException(nameof(labelColumnName), $"Evaluate: label column '{labelColumnName}' not found (columns: {s.Describe()})");
        var score = s.GetColumnOrNull(scoreColumnName) ?? throw new ArgumentOutOfRangeException(nameof(scoreColumnName), $"Evaluate: score column '{scoreColumnName}' not found (columns: {s.Describe()})");
        if (s.GetColumnOrNull(predictedLabelColumnName) is null)
            throw new ArgumentOutOfRangeException(nameof(predictedLabelColumnName), $"Evaluate: predicted label column '{predictedLabelColumnName}' not found (columns: {s.Describe()})");
        if (!AttentionBackboneTrainer.IsLabelType(label.Type))
            throw new ArgumentOutOfRangeException(nameof(labelColumnName), $"Evaluate: label column '{labelColumnName}' must hold text, integers or keys, but it is {label.Type}");
        var readLabel = AttentionBackboneTrainer.LabelReader(label, "Evaluate", out _);
        if (score.Type is not VectorDataViewType { IsKnownSize: true, ItemType: var it } vt || it != NumberDataViewType.Single)
            throw new ArgumentOutOfRangeException(nameof(scoreColumnName), $"Evaluate: score column '{scoreColumnName}' must be a vector of Single of known size (class probabilities), but it is {score.Type}");
        var classes = score.GetSlotNames()
            ?? throw new ArgumentOutOfRangeException(nameof(scoreColumnName), $"Evaluate: score column '{scoreColumnName}' has no class names (slot names); evaluate the output of a trained model's Transform");
        int k = vt.Size;
        var index = classes.Select((c, i) => (c, i)).ToDictionary(p => p.c, p => p.i, StringComparer.Ordinal);
        var probs = new List<float>();
        var labels = new List<int>();
        using (var cursor = data.GetRowCursor(new[] { label, score }))
        {
            var getLabel = RowAccess.Boxed(cursor, label);
            var getScore = RowAccess.Boxed(cursor, score);
            while (cursor.MoveNext())
            {
                string text = readLabel(getLabel(), cursor.Position)
                    ?? throw new InvalidOperationException($"Evaluate: label column '{labelColumnName}' holds the missing key 0 in row {cursor.Position} (a value MapValueToKey's dictionary does not hold)");
                if (!index.TryGetValue(text, out int l))
                    throw new InvalidOperationException($"Evaluate: label '{text}' in row {cursor.Position} is not one of the model's {k} classes ({string.Join(", ", classes.Take(12))}{(k > 12 ? ", ..." : "")})");
                labels.Add(l);
                probs.AddRange((float[])getScore()!);
            }
        }
        if (labels.Count == 0) throw new ArgumentException("Evaluate: the data has no rows", nameof(data));
        var metrics = MulticlassEvaluator.Evaluate(probs.ToArray(), labels.ToArray(), k, topKPredictionCount, classes);
        _env.WriteLog("MulticlassClassificationCatalog", $"evaluated {labels.Count} rows: micro accuracy {metrics.MicroAccuracy:P2}, log loss {metrics.LogLoss:F4}");
        return metrics;
    }
}

/// <summary>
/// The attention backbones as multiclass trainers. Every method makes the same <see cref="AttentionBackboneTrainer"/>;
/// they differ in the model (<see cref="AttentionBackboneTrainer.Options.Arch"/> may pick another of the family).
/// The simple overloads take the column names and the most used settings; the <c>Options</c> overloads take everything.
/// </summary>
public static class AttentionTrainersCatalog
{
    private static AttentionBackboneTrainer.Options Simple(string labelColumnName, string featureColumnName, string scoreColumnName, string predictedLabelColumnName,
        int maxEpoch, int batchSize, double learningRate) => new()
        {
            LabelColumnName = labelColumnName, FeatureColumnName = featureColumnName, ScoreColumnName = scoreColumnName,
            PredictedLabelColumnName = predictedLabelColumnName, MaxEpoch = maxEpoch, BatchSize = batchSize, LearningRate = learningRate,
        };

    private static AttentionBackboneTrainer Make(MulticlassClassificationCatalog.MulticlassClassificationTrainers catalog, AttentionBackboneTrainer.Options options, string arch) =>
        new((catalog ?? throw new ArgumentNullException(nameof(catalog))).Environment, options, arch);

    /// <summary>Any registered backbone (<see cref="AttentionBackboneTrainer.Options.Arch"/>, required: a <c>ModelRegistry</c> name).</summary>
    public static AttentionBackboneTrainer AttentionBackbone(this MulticlassClassificationCatalog.MulticlassClassificationTrainers catalog, AttentionBackboneTrainer.Options options) =>
        Make(catalog, options, AttentionBackboneTrainer.AnyArch);

    /// <summary>EPSANet-50 (Zhang et al. 2021): pyramid split attention.</summary>
    public static AttentionBackboneTrainer EpsaNet(this MulticlassClassificationCatalog.MulticlassClassificationTrainers catalog, string labelColumnName = DefaultColumnNames.Label,
        string featureColumnName = DefaultColumnNames.Features, string scoreColumnName = DefaultColumnNames.Score, string predictedLabelColumnName = DefaultColumnNames.PredictedLabel,
        int maxEpoch = 10, int batchSize = 32, double learningRate = 0.01) =>
        Make(catalog, Simple(labelColumnName, featureColumnName, scoreColumnName, predictedLabelColumnName, maxEpoch, batchSize, learningRate), "epsanet50");

    /// <summary>EPSANet with options (Arch: epsanet50, epsanet101, epsanet50_large, epsanet101_large).</summary>
    public static AttentionBackboneTrainer EpsaNet(this MulticlassClassificationCatalog.MulticlassClassificationTrainers catalog, AttentionBackboneTrainer.Options options) =>
        Make(catalog, options, "epsanet50");

    /// <summary>SE-ResNet-50 (Hu et al. 2018): squeeze-and-excitation.</summary>
    public static AttentionBackboneTrainer SeResNet(this MulticlassClassificationCatalog.MulticlassClassificationTrainers catalog, string labelColumnName = DefaultColumnNames.Label,
        string featureColumnName = DefaultColumnNames.Features, string scoreColumnName = DefaultColumnNames.Score, string predictedLabelColumnName = DefaultColumnNames.PredictedLabel,
        int maxEpoch = 10, int batchSize = 32, double learningRate = 0.01) =>
        Make(catalog, Simple(labelColumnName, featureColumnName, scoreColumnName, predictedLabelColumnName, maxEpoch, batchSize, learningRate), "seresnet50");

    /// <summary>SE-ResNet with options (any ResNet-family Arch).</summary>
    public static AttentionBackboneTrainer SeResNet(this MulticlassClassificationCatalog.MulticlassClassificationTrainers catalog, AttentionBackboneTrainer.Options options) =>
        Make(catalog, options, "seresnet50");

    /// <summary>CBAM-ResNet-50 (Woo et al. 2018): channel and spatial attention.</summary>
    public static AttentionBackboneTrainer CbamResNet(this MulticlassClassificationCatalog.MulticlassClassificationTrainers catalog, string labelColumnName = DefaultColumnNames.Label,
        string featureColumnName = DefaultColumnNames.Features, string scoreColumnName = DefaultColumnNames.Score, string predictedLabelColumnName = DefaultColumnNames.PredictedLabel,
        int maxEpoch = 10, int batchSize = 32, double learningRate = 0.01) =>
        Make(catalog, Simple(labelColumnName, featureColumnName, scoreColumnName, predictedLabelColumnName, maxEpoch, batchSize, learningRate), "cbam_resnet50");

    /// <summary>CBAM-ResNet with options.</summary>
    public static AttentionBackboneTrainer CbamResNet(this MulticlassClassificationCatalog.MulticlassClassificationTrainers catalog, AttentionBackboneTrainer.Options options) =>
        Make(catalog, options, "cbam_resnet50");

    /// <summary>BAM-ResNet-50 (Park et al. 2018): bottleneck attention modules between stages.</summary>
    public static AttentionBackboneTrainer BamResNet(this MulticlassClassificationCatalog.MulticlassClassificationTrainers catalog, string labelColumnName = DefaultColumnNames.Label,
        string featureColumnName = DefaultColumnNames.Features, string scoreColumnName = DefaultColumnNames.Score, string predictedLabelColumnName = DefaultColumnNames.PredictedLabel,
        int maxEpoch = 10, int batchSize = 32, double learningRate = 0.01) =>
        Make(catalog, Simple(labelColumnName, featureColumnName, scoreColumnName, predictedLabelColumnName, maxEpoch, batchSize, learningRate), "bam_resnet50");

    /// <summary>BAM-ResNet with options.</summary>
    public static AttentionBackboneTrainer BamResNet(this MulticlassClassificationCatalog.MulticlassClassificationTrainers catalog, AttentionBackboneTrainer.Options options) =>
        Make(catalog, options, "bam_resnet50");

    /// <summary>ECA-ResNet-50 (Wang et al. 2020): efficient channel attention.</summary>
    public static AttentionBackboneTrainer EcaResNet(this MulticlassClassificationCatalog.MulticlassClassificationTrainers catalog, string labelColumnName = DefaultColumnNames.Label,
        string featureColumnName = DefaultColumnNames.Features, string scoreColumnName = DefaultColumnNames.Score, string predictedLabelColumnName = DefaultColumnNames.PredictedLabel,
        int maxEpoch = 10, int batchSize = 32, double learningRate = 0.01) =>
        Make(catalog, Simple(labelColumnName, featureColumnName, scoreColumnName, predictedLabelColumnName, maxEpoch, batchSize, learningRate), "eca_resnet50");

    /// <summary>ECA-ResNet with options.</summary>
    public static AttentionBackboneTrainer EcaResNet(this MulticlassClassificationCatalog.MulticlassClassificationTrainers catalog, AttentionBackboneTrainer.Options options) =>
        Make(catalog, options, "eca_resnet50");

    /// <summary>Residual Attention Network 56 (Wang et al. 2017): trunk and mask branches.</summary>
    public static AttentionBackboneTrainer ResidualAttention(this MulticlassClassificationCatalog.MulticlassClassificationTrainers catalog, string labelColumnName = DefaultColumnNames.Label,
        string featureColumnName = DefaultColumnNames.Features, string scoreColumnName = DefaultColumnNames.Score, string predictedLabelColumnName = DefaultColumnNames.PredictedLabel,
        int maxEpoch = 10, int batchSize = 32, double learningRate = 0.01) =>
        Make(catalog, Simple(labelColumnName, featureColumnName, scoreColumnName, predictedLabelColumnName, maxEpoch, batchSize, learningRate), "attention56");

    /// <summary>Residual Attention Network with options (Arch: attention56, attention92).</summary>
    public static AttentionBackboneTrainer ResidualAttention(this MulticlassClassificationCatalog.MulticlassClassificationTrainers catalog, AttentionBackboneTrainer.Options options) =>
        Make(catalog, options, "attention56");

    /// <summary>MobileNetV2 with coordinate attention (Hou et al. 2021).</summary>
    public static AttentionBackboneTrainer CoordAttention(this MulticlassClassificationCatalog.MulticlassClassificationTrainers catalog, string labelColumnName = DefaultColumnNames.Label,
        string featureColumnName = DefaultColumnNames.Features, string scoreColumnName = DefaultColumnNames.Score, string predictedLabelColumnName = DefaultColumnNames.PredictedLabel,
        int maxEpoch = 10, int batchSize = 32, double learningRate = 0.01) =>
        Make(catalog, Simple(labelColumnName, featureColumnName, scoreColumnName, predictedLabelColumnName, maxEpoch, batchSize, learningRate), "mobilenetv2_ca");

    /// <summary>MobileNetV2-CA with options.</summary>
    public static AttentionBackboneTrainer CoordAttention(this MulticlassClassificationCatalog.MulticlassClassificationTrainers catalog, AttentionBackboneTrainer.Options options) =>
        Make(catalog, options, "mobilenetv2_ca");

    /// <summary>BoTNet-50 (Srinivas et al. 2021): self-attention in the last stage.</summary>
    public static AttentionBackboneTrainer BotNet(this MulticlassClassificationCatalog.MulticlassClassificationTrainers catalog, string labelColumnName = DefaultColumnNames.Label,
        string featureColumnName = DefaultColumnNames.Features, string scoreColumnName = DefaultColumnNames.Score, string predictedLabelColumnName = DefaultColumnNames.PredictedLabel,
        int maxEpoch = 10, int batchSize = 32, double learningRate = 0.01) =>
        Make(catalog, Simple(labelColumnName, featureColumnName, scoreColumnName, predictedLabelColumnName, maxEpoch, batchSize, learningRate), "botnet50");

    /// <summary>BoTNet with options.</summary>
    public static AttentionBackboneTrainer BotNet(this MulticlassClassificationCatalog.MulticlassClassificationTrainers catalog, AttentionBackboneTrainer.Options options) =>
        Make(catalog, options, "botnet50");

    /// <summary>MobileViTv2-0.5 (Mehta and Rastegari 2022): separable self-attention.</summary>
    public static AttentionBackboneTrainer MobileViTv2(this MulticlassClassificationCatalog.MulticlassClassificationTrainers catalog, string labelColumnName = DefaultColumnNames.Label,
        string featureColumnName = DefaultColumnNames.Features, string scoreColumnName = DefaultColumnNames.Score, string predictedLabelColumnName = DefaultColumnNames.PredictedLabel,
        int maxEpoch = 10, int batchSize = 32, double learningRate = 0.01) =>
        Make(catalog, Simple(labelColumnName, featureColumnName, scoreColumnName, predictedLabelColumnName, maxEpoch, batchSize, learningRate), "mobilevitv2_050");

    /// <summary>MobileViTv2 with options (Arch: mobilevitv2_050, _075, _100).</summary>
    public static AttentionBackboneTrainer MobileViTv2(this MulticlassClassificationCatalog.MulticlassClassificationTrainers catalog, AttentionBackboneTrainer.Options options) =>
        Make(catalog, options, "mobilevitv2_050");

    /// <summary>YOLOv8n-cls C2f backbone with coordinate attention after each C2f.</summary>
    public static AttentionBackboneTrainer C2fCa(this MulticlassClassificationCatalog.MulticlassClassificationTrainers catalog, string labelColumnName = DefaultColumnNames.Label,
        string featureColumnName = DefaultColumnNames.Features, string scoreColumnName = DefaultColumnNames.Score, string predictedLabelColumnName = DefaultColumnNames.PredictedLabel,
        int maxEpoch = 10, int batchSize = 32, double learningRate = 0.01) =>
        Make(catalog, Simple(labelColumnName, featureColumnName, scoreColumnName, predictedLabelColumnName, maxEpoch, batchSize, learningRate), "c2f_ca_cls_n");

    /// <summary>C2f-CA with options (Arch: c2f_ca_cls_n, c2f_ca_cls_s, or the plain c2f_cls_*).</summary>
    public static AttentionBackboneTrainer C2fCa(this MulticlassClassificationCatalog.MulticlassClassificationTrainers catalog, AttentionBackboneTrainer.Options options) =>
        Make(catalog, options, "c2f_ca_cls_n");
}
