using System.Net;
using System.Net.Sockets;
using System.Security.Cryptography;
using System.Text;
using MLNet.Attention.Backbones.Models;
using MLNet.Attention.Backbones.Pretrained;
using MLNet.Attention.Torch.Hub;

namespace MLNet.Attention.Tests.Serialization;

/// <summary>
/// WeightsCache and PretrainedWeights against fixture checkpoints served from a loopback HTTP server (nothing here can
/// reach the internet): download, resume after a cut connection, corrupt or wrong-hash downloads refused with both
/// hashes named, cache hits with the server stopped, and the offline error.
/// </summary>
[TestClass]
public sealed class WeightsCacheTests
{
    private static byte[] Checkpoint => File.ReadAllBytes(Fixtures.PathOf("pretrained", "tv_resnet18.pth"));

    private static string Sha(byte[] b) => Convert.ToHexStringLower(SHA256.HashData(b));

    /// <summary>Runs <paramref name="test"/> with a fresh cache root folder, deleted afterwards.</summary>
    private static void InTempCache(Action<string> test)
    {
        var root = Directory.CreateTempSubdirectory("mlnet-weights-cache-");
        try
        {
            test(root.FullName);
        }
        finally
        {
            root.Delete(true);
        }
    }

    [TestMethod]
    public void DownloadsVerifiesAndMovesIntoTheCacheThenHitsWithTheServerStopped()
    {
        InTempCache(root =>
        {
        var bytes = Checkpoint;
        var cache = new WeightsCache(root) { AllowLoopbackHttp = true };
        var seen = new List<DownloadProgress>();
        string path;
        Uri url;
        using (var server = new LoopbackServer(bytes))
        {
            url = server.Url("tv_resnet18.pth");
            path = cache.Get(url, "tv_resnet18-x.pth", new ExpectedHash(Sha256: Sha(bytes)), seen.Add);
            Assert.AreEqual(1, server.Requests.Count);
            Assert.IsNull(server.Requests[0], "a fresh download sends no Range");
        }
        Assert.AreEqual(Path.Combine(root, "checkpoints", "tv_resnet18-x.pth"), path);
        CollectionAssert.AreEqual(bytes, File.ReadAllBytes(path));
        Assert.IsFalse(File.Exists(path + ".partial"));
        Assert.AreEqual(new DownloadProgress("tv_resnet18-x.pth", bytes.Length, bytes.Length), seen[^1]);
        Assert.IsTrue(seen.Count >= 2 && seen.Zip(seen.Skip(1)).All(p => p.Second.BytesReceived >= p.First.BytesReceived), "progress only grows");

        // The server is gone: the cache answers, online or offline.
        Assert.AreEqual(path, cache.Get(url, "tv_resnet18-x.pth"));
        Assert.AreEqual(path, new WeightsCache(root) { Offline = true }.Get(url, "tv_resnet18-x.pth"));
        });
    }

    [TestMethod]
    public void ACutConnectionIsResumedWithARangeRequest()
    {
        InTempCache(root =>
        {
        var bytes = Checkpoint;
        int cut = bytes.Length / 3;
        using var server = new LoopbackServer(bytes) { CutOnceAfter = cut };
        var cache = new WeightsCache(root) { AllowLoopbackHttp = true };
        string path = cache.Get(server.Url("w.pth"), "w.pth", new ExpectedHash(Sha256: Sha(bytes)));
        CollectionAssert.AreEqual(bytes, File.ReadAllBytes(path));
        Assert.AreEqual(2, server.Requests.Count);
        Assert.AreEqual($"bytes={cut}-", server.Requests[1], "the second request resumes where the first was cut");

        // With one attempt only, the cut download fails, leaves its partial file, and the next call resumes it.
        using var again = new LoopbackServer(bytes) { CutOnceAfter = cut };
        var once = new WeightsCache(root) { AllowLoopbackHttp = true, MaxAttempts = 1 };
        var e = Assert.ThrowsExactly<FileNotFoundException>(() => once.Get(again.Url("v.pth"), "v.pth"));
        StringAssert.Contains(e.Message, "could not download weights file 'v.pth'");
        StringAssert.Contains(e.Message, once.PathOf("v.pth"));
        Assert.AreEqual(cut, new FileInfo(once.PathOf("v.pth") + ".partial").Length);
        CollectionAssert.AreEqual(bytes, File.ReadAllBytes(once.Get(again.Url("v.pth"), "v.pth", new ExpectedHash(Sha256: Sha(bytes)))));
        Assert.AreEqual($"bytes={cut}-", again.Requests[^1]);
        });
    }

    [TestMethod]
    public void ACorruptOrWrongHashDownloadIsRefusedNamingBothHashes()
    {
        InTempCache(root =>
        {
        var bytes = Checkpoint;
        var corrupt = (byte[])bytes.Clone();
        corrupt[corrupt.Length / 2] ^= 0xFF;
        using var server = new LoopbackServer(corrupt);
        var cache = new WeightsCache(root) { AllowLoopbackHttp = true };
        var e = Assert.ThrowsExactly<InvalidDataException>(() => cache.Get(server.Url("a.pth"), "a.pth", new ExpectedHash(Sha256: Sha(bytes))));
        StringAssert.Contains(e.Message, Sha(corrupt));
        StringAssert.Contains(e.Message, Sha(bytes));
        Assert.IsFalse(File.Exists(cache.PathOf("a.pth")));
        Assert.IsFalse(File.Exists(cache.PathOf("a.pth") + ".partial"));

        // torchvision's check: the first hex digits of the SHA-256, as its file names carry them
        var p = Assert.ThrowsExactly<InvalidDataException>(() => cache.Get(server.Url("b.pth"), "b.pth", new ExpectedHash(Sha256Prefix: Sha(bytes)[..8])));
        StringAssert.Contains(p.Message, Sha(corrupt));
        StringAssert.Contains(p.Message, Sha(bytes)[..8]);
        string ok = cache.Get(server.Url("c.pth"), "c.pth", new ExpectedHash(Sha256Prefix: Sha(corrupt)[..8]));
        Assert.IsTrue(File.Exists(ok));
        });
    }

    [TestMethod]
    public void OfflineWithAnEmptyCacheNamesTheFileAndWhereToPutIt()
    {
        InTempCache(root =>
        {
        var cache = new WeightsCache(root) { Offline = true };
        var url = new Uri("https://download.pytorch.org/models/resnet18-f37072fd.pth");
        var e = Assert.ThrowsExactly<FileNotFoundException>(() => cache.Get(url, "resnet18-f37072fd.pth"));
        StringAssert.Contains(e.Message, "resnet18-f37072fd.pth");
        StringAssert.Contains(e.Message, url.ToString());
        StringAssert.Contains(e.Message, Path.Combine(root, "checkpoints", "resnet18-f37072fd.pth"));
        StringAssert.Contains(e.Message, WeightsCache.HomeVariable);

        // The same through PretrainedWeights and a known name.
        var known = new PretrainedWeights("torchvision/resnet18.IMAGENET1K_V1") { Cache = cache };
        var k = Assert.ThrowsExactly<FileNotFoundException>(() => known.Resolve());
        StringAssert.Contains(k.Message, "resnet18-f37072fd.pth");
        });
    }

    [TestMethod]
    public void OnlyHttpsOrLoopbackHttpWhenAllowed()
    {
        InTempCache(root =>
        {
        var strict = new WeightsCache(root);
        Assert.ThrowsExactly<ArgumentException>(() => strict.Get(new Uri("http://127.0.0.1:9/w.pth"), "w.pth"));
        var tests = new WeightsCache(root) { AllowLoopbackHttp = true };
        var e = Assert.ThrowsExactly<ArgumentException>(() => tests.Get(new Uri("http://example.org/w.pth"), "w.pth"));
        StringAssert.Contains(e.Message, "https only");
        Assert.ThrowsExactly<ArgumentException>(() => tests.Get(new Uri("https://example.org/w.pth"), "../w.pth"));
        });
    }

    [TestMethod]
    public void DefaultRootFollowsTheEnvironment()
    {
        string? before = Environment.GetEnvironmentVariable(WeightsCache.HomeVariable);
        try
        {
            Environment.SetEnvironmentVariable(WeightsCache.HomeVariable, "/tmp/mlnet-attention-home-test");
            Assert.AreEqual("/tmp/mlnet-attention-home-test", new WeightsCache().Root);
            Environment.SetEnvironmentVariable(WeightsCache.HomeVariable, null);
            StringAssert.EndsWith(WeightsCache.DefaultRoot(), "mlnet-attention");
        }
        finally
        {
            Environment.SetEnvironmentVariable(WeightsCache.HomeVariable, before);
        }
    }

    [TestMethod]
    public void PretrainedWeightsFromAUrlDownloadsReportsProgressAndLoads()
    {
        InTempCache(root =>
        {
        var bytes = File.ReadAllBytes(Fixtures.PathOf("pretrained", "timm_seresnet50.safetensors"));
        using var server = new LoopbackServer(bytes);
        long last = 0;
        var weights = new PretrainedWeights(server.Url("timm_seresnet50.safetensors").ToString())
        {
            Cache = new WeightsCache(root) { AllowLoopbackHttp = true },
            Progress = p => last = p.BytesReceived,
        };
        Assert.AreEqual((PretrainedSource.Url, "timm_seresnet50.safetensors"), (weights.Source, weights.FileName));
        using var model = ModelRegistry.Create("seresnet50_timm", new BackboneOptions(NumClasses: 10, WidthMultiplier: 1.0 / 16));
        Assert.IsTrue(weights.LoadInto(model).IsClean);
        Assert.AreEqual(bytes.Length, last);
        Assert.AreEqual(Path.Combine(root, "checkpoints", "timm_seresnet50.safetensors"), weights.Resolve());
        });
    }

    /// <summary>A one-file HTTP/1.1 server on 127.0.0.1 that honours <c>Range: bytes=N-</c> and can cut its first response short.</summary>
    private sealed class LoopbackServer : IDisposable
    {
        private readonly TcpListener _listener = new(IPAddress.Loopback, 0);
        private readonly byte[] _content;
        private readonly Task _loop;
        private readonly CancellationTokenSource _stop = new();

        public LoopbackServer(byte[] content)
        {
            _content = content;
            _listener.Start();
            _loop = Task.Run(ServeAsync);
        }

        /// <summary>The first response sends this many body bytes, then closes the connection.</summary>
        public int? CutOnceAfter { get; set; }

        /// <summary>Each request's Range header (null when absent), in order.</summary>
        public List<string?> Requests { get; } = new();

        public Uri Url(string file) => new($"http://127.0.0.1:{((IPEndPoint)_listener.LocalEndpoint).Port}/{file}");

        private async Task ServeAsync()
        {
            while (!_stop.IsCancellationRequested)
            {
                TcpClient client;
                try { client = await _listener.AcceptTcpClientAsync(_stop.Token); }
                catch (Exception) when (_stop.IsCancellationRequested) { return; }
                using (client)
                {
                    try { await HandleAsync(client.GetStream()); }
                    catch (IOException) { }  // the client went away
                }
            }
        }

        private async Task HandleAsync(NetworkStream stream)
        {
            var head = new StringBuilder();
            var one = new byte[1];
            while (!head.ToString().EndsWith("\r\n\r\n", StringComparison.Ordinal) && await stream.ReadAsync(one) == 1) head.Append((char)one[0]);
            string? range = head.ToString().Split("\r\n").FirstOrDefault(l => l.StartsWith("Range:", StringComparison.OrdinalIgnoreCase))?[6..].Trim();
            lock (Requests) Requests.Add(range);
            long from = range is null ? 0 : long.Parse(range["bytes=".Length..].TrimEnd('-'), System.Globalization.CultureInfo.InvariantCulture);
            string status = range is null ? "200 OK" : "206 Partial Content";
            string headers = $"HTTP/1.1 {status}\r\nContent-Type: application/octet-stream\r\nContent-Length: {_content.Length - from}\r\nAccept-Ranges: bytes\r\n"
                + (range is null ? "" : $"Content-Range: bytes {from}-{_content.Length - 1}/{_content.Length}\r\n") + "Connection: close\r\n\r\n";
            await stream.WriteAsync(Encoding.ASCII.GetBytes(headers));
            int count = _content.Length - (int)from;
            if (CutOnceAfter is { } cut)
            {
                CutOnceAfter = null;
                count = cut - (int)from;
            }
            await stream.WriteAsync(_content.AsMemory((int)from, count));
            await stream.FlushAsync();
        }

        public void Dispose()
        {
            _stop.Cancel();
            _listener.Stop();
            try { _loop.Wait(TimeSpan.FromSeconds(5)); } catch (AggregateException) { }
            _stop.Dispose();
        }
    }
}
