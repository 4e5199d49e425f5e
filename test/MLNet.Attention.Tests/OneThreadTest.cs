using MLNet.Attention.Torch;

namespace MLNet.Attention.Tests;

/// <summary>
/// Base of the test classes that train: each test runs libtorch on one intra-op thread (the test runner already runs
/// classes in parallel, and two threads per test on the 2-core machine only adds contention) and restores the count
/// it found afterwards.
/// </summary>
public abstract class OneThreadTest
{
    private int _threads;

    /// <summary>One intra-op thread for the test.</summary>
    [TestInitialize]
    public void OneThread()
    {
        _threads = TorchRuntime.NumThreads;
        TorchRuntime.NumThreads = 1;
    }

    /// <summary>The thread count the test found.</summary>
    [TestCleanup]
    public void RestoreThreads() => TorchRuntime.NumThreads = _threads;
}
