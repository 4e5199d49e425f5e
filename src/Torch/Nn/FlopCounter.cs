namespace MLNet.Attention.Torch.Nn;

/// <summary>
/// Counts multiply-adds (the "FLOPs" of the papers' tables) of the convolutions and linear layers that run on this
/// thread while it is open. Layers with other significant matrix products (attention) report them with <see cref="Add"/>.
/// <code>using var flops = FlopCounter.Start(); model.Forward(x); long macs = flops.MultiplyAdds;</code>
/// </summary>
public sealed class FlopCounter : IDisposable
{
    [ThreadStatic] private static FlopCounter? _current;
    private readonly FlopCounter? _outer;
    private bool _disposed;

    private FlopCounter()
    {
        _outer = _current;
        _current = this;
    }

    /// <summary>Starts counting on this thread.</summary>
    public static FlopCounter Start() => new();

    /// <summary>True while a counter is open on this thread (layers skip the shape queries otherwise).</summary>
    public static bool IsActive => _current is not null;

    /// <summary>Multiply-adds counted so far.</summary>
    public long MultiplyAdds { get; private set; }

    /// <summary>Adds <paramref name="multiplyAdds"/> to every open counter of this thread.</summary>
    public static void Add(long multiplyAdds)
    {
        for (var c = _current; c is not null; c = c._outer) c.MultiplyAdds += multiplyAdds;
    }

    /// <summary>Stops counting.</summary>
    public void Dispose()
    {
        if (_disposed) return;
        _disposed = true;
        if (ReferenceEquals(_current, this)) _current = _outer;
    }
}
