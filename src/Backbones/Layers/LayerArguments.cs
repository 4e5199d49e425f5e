namespace MLNet.Attention.Backbones.Layers;

/// <summary>Argument checks shared by the attention layers, with messages that name the argument and what was expected.</summary>
internal static class LayerArguments
{
    /// <summary>Throws unless <paramref name="channels"/> is positive.</summary>
    public static void Channels(long channels, string name = "channels")
    {
        if (channels <= 0) throw new ArgumentException($"{name} must be > 0, got {channels}", name);
    }

    /// <summary>
    /// channels / reduction, after checking that <paramref name="reduction"/> is positive and divides
    /// <paramref name="channels"/> (the reference code floors, which silently changes the bottleneck width).
    /// </summary>
    public static long Reduced(long channels, long reduction, string channelsName = "channels", string reductionName = "reduction")
    {
        Channels(channels, channelsName);
        if (reduction <= 0) throw new ArgumentException($"{reductionName} must be > 0, got {reduction}", reductionName);
        if (channels % reduction != 0)
            throw new ArgumentException($"{reductionName}={reduction} must divide {channelsName}={channels}", reductionName);
        return channels / reduction;
    }

    /// <summary>Throws unless <paramref name="value"/> is positive.</summary>
    public static void Positive(long value, string name)
    {
        if (value <= 0) throw new ArgumentException($"{name} must be > 0, got {value}", name);
    }
}
