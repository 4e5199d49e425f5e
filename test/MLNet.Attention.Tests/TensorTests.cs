using System.Diagnostics;
using MLNet.Attention.Torch;
using MLNet.Attention.Torch.Native;
using MLNet.Attention.Torch.Nn;
using MLNet.Attention.Torch.Optim;
using F = MLNet.Attention.Torch.Functional;

namespace MLNet.Attention.Tests;

/// <summary>Tensor basics, errors at the boundary, dispose scopes, grad modes, devices, memory.</summary>
[TestClass]
public sealed class TensorTests
{
    [TestMethod]
    public void DataRoundTripsForEveryDtype()
    {
        using var scope = Tensor.NewDisposeScope();
        CollectionAssert.AreEqual(new float[] { 1, 2, 3, 4, 5, 6 }, Tensor.FromArray(new float[] { 1, 2, 3, 4, 5, 6 }, 2, 3).ToArray<float>());
        CollectionAssert.AreEqual(new long[] { -1, long.MaxValue }, Tensor.FromArray(new long[] { -1, long.MaxValue }).ToArray<long>());
        CollectionAssert.AreEqual(new byte[] { 0, 255 }, Tensor.FromArray(new byte[] { 0, 255 }).ToArray<byte>());
        CollectionAssert.AreEqual(new double[] { Math.PI }, Tensor.FromArray(new double[] { Math.PI }).ToArray<double>());
        CollectionAssert.AreEqual(new[] { (Half)1.5, (Half)(-2) }, Tensor.FromArray(new[] { (Half)1.5, (Half)(-2) }).ToArray<Half>());
        // bfloat16 travels as raw bits: 1.0f = 0x3F80.
        var bf = Tensor.FromBytes(new byte[] { 0x80, 0x3F, 0x00, 0x40 }, DType.BFloat16, new long[] { 2 });
        CollectionAssert.AreEqual(new float[] { 1, 2 }, bf.To(DType.Float32).ToArray<float>());
        var t = Tensor.FromArray(new float[] { 1, 2, 3, 4, 5, 6 }, 2, 3);
        CollectionAssert.AreEqual(new long[] { 2, 3 }, t.Shape);
        CollectionAssert.AreEqual(new long[] { 3, 1 }, t.Strides);
        Assert.AreEqual(6, t.NumElements);
        Assert.AreEqual(Device.Cpu, t.Device);
        // A transposed (non-contiguous) tensor copies out in logical order.
        CollectionAssert.AreEqual(new float[] { 1, 4, 2, 5, 3, 6 }, t.Transpose(0, 1).ToArray<float>());
        Assert.AreEqual(21.0, t.Sum().Item(), 1e-6);
        Assert.AreEqual("Tensor[2, 3] Float32 cpu", t.ToString());
    }

    [TestMethod]
    public void LibtorchErrorsSurfaceAsExceptionsWithItsMessage()
    {
        using var scope = Tensor.NewDisposeScope();
        var a = Tensor.Ones(new long[] { 2, 3 });
        var b = Tensor.Ones(new long[] { 4, 5 });
        var e = Assert.ThrowsExactly<TorchException>(() => a.MatMul(b));
        StringAssert.Contains(e.Message, "cannot be multiplied");
        e = Assert.ThrowsExactly<TorchException>(() => a + Tensor.Ones(new long[] { 3, 2 }));
        StringAssert.Contains(e.Message, "must match the size");
        // conv weight with the wrong number of input channels
        e = Assert.ThrowsExactly<TorchException>(() => F.Conv2d(Tensor.Ones(new long[] { 1, 3, 8, 8 }), Tensor.Ones(new long[] { 4, 2, 3, 3 })));
        StringAssert.Contains(e.Message, "expected input[1, 3, 8, 8] to have 2 channels");
        // wrong dtype: class indices must be int64
        e = Assert.ThrowsExactly<TorchException>(() => F.CrossEntropy(Tensor.Ones(new long[] { 2, 3 }), Tensor.Ones(new long[] { 2 })));
        Assert.IsTrue(e.Message.Length > 10);
        e = Assert.ThrowsExactly<TorchException>(() => a.View(4, 2));
        StringAssert.Contains(e.Message, "invalid for input of size 6");
        // the process keeps working afterwards
        Assert.AreEqual(6.0, a.Sum().Item(), 0);
    }

    [TestMethod]
    public void ManagedArgumentErrorsNameTheArgument()
    {
        var e = Assert.ThrowsExactly<ArgumentException>(() => Tensor.FromArray(new float[] { 1, 2, 3 }, 2, 2));
        StringAssert.Contains(e.Message, "needs 4 elements, the data has 3");
        var t = Tensor.Ones(new long[] { 2 });
        var e2 = Assert.ThrowsExactly<InvalidOperationException>(() => t.ToArray<long>());
        StringAssert.Contains(e2.Message, "tensor holds Float32");
        Assert.ThrowsExactly<ArgumentException>(() => new Conv2d(3, 8, 3, groups: 2));
        Assert.ThrowsExactly<ArgumentOutOfRangeException>(() => F.CrossEntropy(t, t, labelSmoothing: 1.5));
        t.Dispose();
        Assert.ThrowsExactly<ObjectDisposedException>(() => _ = t.Shape);
    }

    [TestMethod]
    public void MissingNativeLibraryGivesAnErrorNamingWhereAndTheFix()
    {
        var dir = Path.Combine(Path.GetTempPath(), $"mlnet-native-{Guid.NewGuid():N}");
        Directory.CreateDirectory(dir);
        try
        {
            var missing = Path.Combine(dir, "libmlnet_torch.so");
            var bogus = Path.Combine(dir, "bogus.so");
            File.WriteAllText(bogus, "not an ELF file");
            var e = Assert.ThrowsExactly<DllNotFoundException>(() => NativeLibraryLoader.Load(new[] { missing, bogus }));
            StringAssert.Contains(e.Message, missing + ": no such file");
            StringAssert.Contains(e.Message, bogus + ": found but could not be loaded");
            StringAssert.Contains(e.Message, "build/setup.sh");
            StringAssert.Contains(e.Message, "MLNET_ATTENTION_NATIVE");
        }
        finally
        {
            Directory.Delete(dir, true);
        }
    }

    [TestMethod]
    public void DisposeScopeFreesIntermediatesAndKeepsWhatIsMovedOut()
    {
        Tensor kept, inner;
        using (var scope = Tensor.NewDisposeScope())
        {
            var x = Tensor.Ones(new long[] { 4 });
            inner = x * 2;
            kept = (inner + 1).MoveToOuterDisposeScope();
            Assert.AreEqual(2, scope.Count);
        }
        Assert.IsTrue(inner.IsDisposed);
        Assert.IsFalse(kept.IsDisposed);
        CollectionAssert.AreEqual(new float[] { 3, 3, 3, 3 }, kept.ToArray<float>());
        kept.Dispose();

        // nested scopes: moving out lands in the enclosing scope, which then frees it
        Tensor moved;
        using (Tensor.NewDisposeScope())
        {
            using (Tensor.NewDisposeScope())
                moved = Tensor.Zeros(new long[] { 1 }).MoveToOuterDisposeScope();
            Assert.IsFalse(moved.IsDisposed);
        }
        Assert.IsTrue(moved.IsDisposed);
    }

    [TestMethod]
    public void GradModesAndAutograd()
    {
        using var scope = Tensor.NewDisposeScope();
        var w = Tensor.FromArray(new float[] { 2, 3 }).RequiresGrad_();
        Assert.IsTrue(w.IsLeaf);
        using (TorchRuntime.NoGrad())
        {
            Assert.IsFalse(TorchRuntime.IsGradEnabled);
            Assert.IsFalse((w * 2).RequiresGrad);
        }
        Assert.IsTrue(TorchRuntime.IsGradEnabled);
        using (TorchRuntime.InferenceMode())
            Assert.IsFalse((w * 2).RequiresGrad);
        var y = (w * w).Sum();
        Assert.IsFalse(y.IsLeaf);
        y.Backward();
        CollectionAssert.AreEqual(new float[] { 4, 6 }, w.Grad!.ToArray<float>());
        // gradients accumulate until cleared
        (w * w).Sum().Backward();
        CollectionAssert.AreEqual(new float[] { 8, 12 }, w.Grad!.ToArray<float>());
        Tensor.ZeroGrad(new[] { w }, setToNone: false);
        CollectionAssert.AreEqual(new float[] { 0, 0 }, w.Grad!.ToArray<float>());
        var detached = w.Detach();
        Assert.IsFalse(detached.RequiresGrad);
        var e = Assert.ThrowsExactly<TorchException>(() => detached.Sum().Backward());
        StringAssert.Contains(e.Message, "does not require grad");
    }

    [TestMethod]
    public void ThreadsSeedsAndDevices()
    {
        Assert.AreEqual(Environment.ProcessorCount, TorchRuntime.NumThreads, "defaults to the cores, not libtorch's single thread");
        TorchRuntime.NumThreads = 1;
        Assert.AreEqual(1, TorchRuntime.NumThreads);
        TorchRuntime.NumThreads = Environment.ProcessorCount;
        Assert.ThrowsExactly<ArgumentOutOfRangeException>(() => TorchRuntime.NumThreads = 0);
        TorchRuntime.ManualSeed(42);
        var a = Tensor.Randn(new long[] { 5 }).ToArray<float>();
        TorchRuntime.ManualSeed(42);
        CollectionAssert.AreEqual(a, Tensor.Randn(new long[] { 5 }).ToArray<float>());
        StringAssert.StartsWith(TorchRuntime.Version, "1.");
        Assert.IsTrue(TorchRuntime.CpuAllocatorTuned, "glibc malloc thresholds are pinned at load");
        Assert.AreEqual(Device.Cuda(1), Device.Parse("cuda:1"));
        Assert.AreEqual(Device.Cpu, Device.Parse("CPU"));
        Assert.ThrowsExactly<ArgumentException>(() => Device.Parse("tpu"));
        Assert.AreEqual(Device.Cpu, Device.Resolve(gpuDeviceId: -1), "-1: the CPU on any machine");
        Assert.AreEqual(Device.Cpu, Device.Resolve(gpuDeviceId: -1, fallbackToCpu: false));
        if (TorchRuntime.CudaDeviceCount == 0)
        {
            Assert.AreEqual(Device.Cpu, Device.Resolve());
            Assert.AreEqual(Device.Cpu, Device.Resolve(gpuDeviceId: 0, fallbackToCpu: true));
            var e = Assert.ThrowsExactly<InvalidOperationException>(() => Device.Resolve(gpuDeviceId: 0, fallbackToCpu: false));
            StringAssert.Contains(e.Message, "FallbackToCpu = false");
            var e2 = Assert.ThrowsExactly<TorchException>(() => Tensor.Ones(new long[] { 1 }).To(Device.Cuda()));
            Assert.IsTrue(e2.Message.Length > 0);
        }
    }

    private sealed class SmallConvNet : Module<Tensor, Tensor>
    {
        private readonly Sequential _body;
        private readonly Linear _fc;

        public SmallConvNet()
        {
            _body = RegisterModule("body", new Sequential(
                new Conv2d(1, 8, 3, padding: 1), new BatchNorm2d(8), new ReLU(inplace: true), new MaxPool2d(2),
                new Conv2d(8, 16, 3, padding: 1), new BatchNorm2d(16), new ReLU(inplace: true), new AdaptiveAvgPool2d(1), new Flatten()));
            _fc = RegisterModule("fc", new Linear(16, 10));
        }

        public override Tensor Forward(Tensor input)
        {
            using var h = _body.Forward(input);
            return _fc.Forward(h);
        }
    }

    private static long Rss()
    {
        using var p = Process.GetCurrentProcess();
        p.Refresh();
        return p.WorkingSet64;
    }

    [TestMethod]
    [Timeout(300_000)]
    public void TwoThousandTrainingStepsKeepMemoryFlat()
    {
        TorchRuntime.ManualSeed(0);
        using var net = new SmallConvNet();
        using var opt = new SGD(net.Parameters(), 0.05, momentum: 0.9);
        var x = Tensor.Randn(new long[] { 8, 1, 16, 16 }).DetachFromDisposeScope();
        var y = Tensor.FromArray(new long[] { 0, 1, 2, 3, 4, 5, 6, 7 });
        void Step()
        {
            using var scope = Tensor.NewDisposeScope();
            opt.ZeroGrad();
            var loss = F.CrossEntropy(net.Forward(x), y);
            loss.Backward();
            opt.Step();
        }
        for (int i = 0; i < 200; i++) Step(); // warm-up: allocator pools, optimizer state
        GC.Collect();
        long before = Rss();
        for (int i = 0; i < 2000; i++) Step();
        GC.Collect();
        long grown = Rss() - before;
        Assert.IsTrue(grown < 50L << 20, $"process memory grew by {grown >> 20} MB over 2,000 steps");
        using var scope2 = Tensor.NewDisposeScope();
        Assert.IsTrue(F.CrossEntropy(net.Forward(x), y).Item() < 0.5, "the net learned the 8 fixed samples");
    }
}
