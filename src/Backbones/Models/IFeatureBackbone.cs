using MLNet.Attention.Torch;
using MLNet.Attention.Torch.Nn;

namespace MLNet.Attention.Backbones.Models;

/// <summary>
/// A classifier that splits into a backbone and a linear head: <see cref="ForwardFeatures"/> gives the pooled
/// features the head takes (timm's <c>forward_head(forward_features(x), pre_logits=True)</c>), so that
/// <c>Forward(x)</c> equals <c>Classifier(ForwardFeatures(x))</c> (the head's dropout aside, which only acts in
/// training). Every backbone of <see cref="ModelRegistry"/> implements it.
/// </summary>
public interface IFeatureBackbone
{
    /// <summary>Channels of the pooled features (the classifier's input).</summary>
    long NumFeatures { get; }

    /// <summary>The state-dict key prefix of the classifier's linear layer (<c>fc</c>, <c>classifier.1</c>, <c>head.fc</c>, ...).</summary>
    string ClassifierName { get; }

    /// <summary>The classifier's linear layer.</summary>
    Linear Classifier { get; }

    /// <summary>The pooled features before the classifier: (N, <see cref="NumFeatures"/>).</summary>
    Tensor ForwardFeatures(Tensor input);
}
