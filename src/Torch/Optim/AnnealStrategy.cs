namespace MLNet.Attention.Torch.Optim;

/// <summary>How <see cref="OneCycleLR"/> moves between the ends of a phase (PyTorch: <c>anneal_strategy</c>).</summary>
public enum AnnealStrategy
{
    /// <summary>Cosine annealing (PyTorch: <c>"cos"</c>).</summary>
    Cos,

    /// <summary>Linear annealing (PyTorch: <c>"linear"</c>).</summary>
    Linear,
}
