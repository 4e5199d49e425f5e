namespace MLNet.Attention.Torch;

/// <summary>An error reported by libtorch (its message, without the C++ backtrace).</summary>
public sealed class TorchException : Exception
{
    /// <summary>Creates the exception.</summary>
    public TorchException(string message) : base(string.IsNullOrEmpty(message) ? "libtorch reported an error without a message" : message) { }

    /// <summary>Creates the exception with an inner exception.</summary>
    public TorchException(string message, Exception inner) : base(message, inner) { }
}
