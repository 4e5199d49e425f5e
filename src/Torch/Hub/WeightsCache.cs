using System.Globalization;
using System.Net;
using System.Net.Http.Headers;
using System.Security.Cryptography;

namespace MLNet.Attention.Torch.Hub;

/// <summary>How far a download is: the bytes of the file received so far (resumed bytes included) and its size when the server says.</summary>
/// <param name="FileName">The file being downloaded.</param>
/// <param name="BytesReceived">Bytes on disk so far.</param>
/// <param name="TotalBytes">The file's size, or null when the server does not send it.</param>
public readonly record struct DownloadProgress(string FileName, long BytesReceived, long? TotalBytes);

/// <summary>What a downloaded file must hash to.</summary>
/// <param name="Sha256">The file's full SHA-256 (64 hex digits), or null.</param>
/// <param name="Sha256Prefix">A leading part of it (torchvision names its files <c>resnet18-f37072fd.pth</c> with the first 8 hex digits and checks those), or null.</param>
public sealed record ExpectedHash(string? Sha256 = null, string? Sha256Prefix = null)
{
    /// <summary>Whether <paramref name="actual"/> (64 lower-case hex digits) agrees with the full hash or the prefix.</summary>
    public bool Matches(string actual)
    {
        ArgumentNullException.ThrowIfNull(actual);
        if (Sha256 is not null) return string.Equals(Sha256, actual, StringComparison.OrdinalIgnoreCase);
        return Sha256Prefix is null || actual.StartsWith(Sha256Prefix, StringComparison.OrdinalIgnoreCase);
    }

    /// <inheritdoc/>
    public override string ToString() => Sha256 ?? (Sha256Prefix is null ? "(any)" : Sha256Prefix + "…");
}

/// <summary>
/// A folder of downloaded weights, as <c>torch.hub</c> keeps <c>$TORCH_HOME/hub/checkpoints</c>: files are looked up by
/// name in <see cref="CheckpointsFolder"/>; a missing one is downloaded over HTTPS into <c>NAME.partial</c> (resumed
/// with a Range request when a partial file is left from a cut connection), its SHA-256 checked, and then renamed into
/// place, so the cache never holds a partial or unverified file under its final name.
/// </summary>
public sealed class WeightsCache
{
    /// <summary>The environment variable naming the cache root (as <c>TORCH_HOME</c>).</summary>
    public const string HomeVariable = "MLNET_ATTENTION_HOME";

    private static readonly HttpClient SharedClient = new(new SocketsHttpHandler { AutomaticDecompression = DecompressionMethods.None })
    {
        Timeout = Timeout.InfiniteTimeSpan,
    };

    private readonly HttpClient _client;

    /// <summary>A cache rooted at <paramref name="root"/>, or at <see cref="DefaultRoot"/> when null.</summary>
    /// <param name="root">The cache root; the files live in its <c>checkpoints</c> folder.</param>
    /// <param name="client">The HTTP client to download with; null: a shared one.</param>
    public WeightsCache(string? root = null, HttpClient? client = null)
    {
        Root = Path.GetFullPath(root ?? DefaultRoot());
        _client = client ?? SharedClient;
    }

    /// <summary><c>$MLNET_ATTENTION_HOME</c>, else <c>~/.cache/mlnet-attention</c> (<c>$XDG_CACHE_HOME/mlnet-attention</c> when that is set).</summary>
    public static string DefaultRoot()
    {
        var home = Environment.GetEnvironmentVariable(HomeVariable);
        if (!string.IsNullOrWhiteSpace(home)) return home;
        var xdg = Environment.GetEnvironmentVariable("XDG_CACHE_HOME");
        var cache = !string.IsNullOrWhiteSpace(xdg) ? xdg : Path.Combine(Environment.GetFolderPath(Environment.SpecialFolder.UserProfile), ".cache");
        return Path.Combine(cache, "mlnet-attention");
    }

    /// <summary>The cache root.</summary>
    public string Root { get; }

    /// <summary>Where the files are: <c>Root/checkpoints</c>.</summary>
    public string CheckpointsFolder => Path.Combine(Root, "checkpoints");

    /// <summary>Never download: a file missing from the cache is an error that says where to put it.</summary>
    public bool Offline { get; init; }

    /// <summary>How often a cut download is resumed before giving up (default 3 attempts in all).</summary>
    public int MaxAttempts { get; init; } = 3;

    /// <summary>Accept <c>http://</c> URLs whose host is a loopback address (tests serve fixtures from 127.0.0.1); every other URL must be <c>https://</c>.</summary>
    internal bool AllowLoopbackHttp { get; init; }

    /// <summary>The cached path of <paramref name="fileName"/> (whether or not it is there).</summary>
    public string PathOf(string fileName) => Path.Combine(CheckpointsFolder, CheckName(fileName));

    /// <summary>The path of <paramref name="fileName"/> in the cache, downloading it from <paramref name="url"/> first when it is missing.</summary>
    /// <param name="url">Where to download it (https).</param>
    /// <param name="fileName">Its name in the cache.</param>
    /// <param name="hash">What it must hash to; null: no check (the hash is still computed and reported in errors).</param>
    /// <param name="progress">Called as bytes arrive (on the downloading thread).</param>
    /// <param name="cancellationToken">Cancels the download; the partial file stays for the next attempt to resume.</param>
    /// <exception cref="FileNotFoundException">Offline, or the download failed, and the file is not in the cache: the message names the file, the URL and where to put it.</exception>
    /// <exception cref="InvalidDataException">The downloaded file's SHA-256 is not the expected one (both named); nothing is kept.</exception>
    public async Task<string> GetAsync(Uri url, string fileName, ExpectedHash? hash = null, Action<DownloadProgress>? progress = null,
        CancellationToken cancellationToken = default)
    {
        ArgumentNullException.ThrowIfNull(url);
        string target = PathOf(fileName);
        if (File.Exists(target)) return target;
        CheckUrl(url);
        if (Offline)
            throw new FileNotFoundException(
                $"weights file '{fileName}' is not in the cache and downloads are off: download {url} and put it at '{target}' (the cache is ${HomeVariable}, now '{Root}')", target);
        Directory.CreateDirectory(CheckpointsFolder);
        string partial = target + ".partial";
        Exception? last = null;
        for (int attempt = 1; attempt <= Math.Max(1, MaxAttempts); attempt++)
        {
            try
            {
                await DownloadAsync(url, partial, fileName, progress, cancellationToken).ConfigureAwait(false);
                last = null;
                break;
            }
            catch (Exception e) when (e is HttpRequestException or IOException && e is not FileNotFoundException && !cancellationToken.IsCancellationRequested)
            {
                last = e;
            }
        }
        if (last is not null)
            throw new FileNotFoundException(
                $"could not download weights file '{fileName}' from {url} ({last.Message}); download it by hand and put it at '{target}' (the cache is ${HomeVariable}, now '{Root}')", target, last);

        string actual = await Sha256Async(partial, cancellationToken).ConfigureAwait(false);
        if (hash is not null && !hash.Matches(actual))
        {
            File.Delete(partial);
            throw new InvalidDataException(
                $"the download of '{fileName}' from {url} has SHA-256 {actual}, expected {hash}: refused and deleted (a corrupt or substituted file; try again, or check the URL)");
        }
        File.Move(partial, target, overwrite: true);  // same folder: an atomic rename
        return target;
    }

    /// <summary><see cref="GetAsync"/>, waited for.</summary>
    public string Get(Uri url, string fileName, ExpectedHash? hash = null, Action<DownloadProgress>? progress = null) =>
        GetAsync(url, fileName, hash, progress).GetAwaiter().GetResult();

    /// <summary>The SHA-256 of a file, 64 lower-case hex digits.</summary>
    public static async Task<string> Sha256Async(string path, CancellationToken cancellationToken = default)
    {
        await using var f = new FileStream(path, FileMode.Open, FileAccess.Read, FileShare.Read, 1 << 20, useAsync: true);
        return Convert.ToHexStringLower(await SHA256.HashDataAsync(f, cancellationToken).ConfigureAwait(false));
    }

    private void CheckUrl(Uri url)
    {
        if (!url.IsAbsoluteUri) throw new ArgumentException($"'{url}' is not an absolute URL", nameof(url));
        if (url.Scheme == Uri.UriSchemeHttps) return;
        if (url.Scheme == Uri.UriSchemeHttp && AllowLoopbackHttp && url.IsLoopback) return;
        throw new ArgumentException($"weights are downloaded over https only, got '{url}'", nameof(url));
    }

    private static string CheckName(string fileName)
    {
        ArgumentException.ThrowIfNullOrWhiteSpace(fileName);
        if (fileName != Path.GetFileName(fileName) || fileName is "." or ".." || fileName.IndexOfAny(Path.GetInvalidFileNameChars()) >= 0)
            throw new ArgumentException($"'{fileName}' is not a plain file name", nameof(fileName));
        return fileName;
    }

    private async Task DownloadAsync(Uri url, string partial, string fileName, Action<DownloadProgress>? progress, CancellationToken ct)
    {
        long have = File.Exists(partial) ? new FileInfo(partial).Length : 0;
        using var request = new HttpRequestMessage(HttpMethod.Get, url);
        if (have > 0) request.Headers.Range = new RangeHeaderValue(have, null);
        using var response = await _client.SendAsync(request, HttpCompletionOption.ResponseHeadersRead, ct).ConfigureAwait(false);
        if (response.StatusCode == HttpStatusCode.RequestedRangeNotSatisfiable && have > 0)
        {
            // The partial file already holds every byte (or more than the server has): the hash decides.
            var total = response.Content.Headers.ContentRange?.Length;
            if (total == have) return;
            File.Delete(partial);
            throw new IOException($"the server has {total?.ToString(CultureInfo.InvariantCulture) ?? "fewer"} bytes than the {have} already downloaded; starting again");
        }
        if (response.StatusCode == HttpStatusCode.NotFound)
            throw new FileNotFoundException($"{url} answered 404 Not Found");
        response.EnsureSuccessStatusCode();
        bool resumed = response.StatusCode == HttpStatusCode.PartialContent && response.Content.Headers.ContentRange?.From == have;
        if (!resumed) have = 0;  // the server ignored the range (200): start over
        long? length = resumed
            ? response.Content.Headers.ContentRange?.Length
            : response.Content.Headers.ContentLength;
        await using var body = await response.Content.ReadAsStreamAsync(ct).ConfigureAwait(false);
        await using var file = new FileStream(partial, resumed ? FileMode.Append : FileMode.Create, FileAccess.Write, FileShare.None, 1 << 16, useAsync: true);
        var buffer = new byte[1 << 16];
        progress?.Invoke(new DownloadProgress(fileName, have, length));
        int n;
        while ((n = await body.ReadAsync(buffer, ct).ConfigureAwait(false)) > 0)
        {
            await file.WriteAsync(buffer.AsMemory(0, n), ct).ConfigureAwait(false);
            have += n;
            progress?.Invoke(new DownloadProgress(fileName, have, length));
        }
        if (length is { } expected && have != expected)
            throw new IOException($"the connection closed after {have} of {expected} bytes");
    }
}
