using MLNet.Attention.Transforms;

namespace MLNet.Attention.Tests.Transforms;

/// <summary>A temporary folder removed (permissions restored first) on dispose.</summary>
internal sealed class TempDir : IDisposable
{
    public string Path { get; }

    public TempDir(string tag)
    {
        Path = System.IO.Path.Combine(System.IO.Path.GetTempPath(), $"mlnet-{tag}-{Guid.NewGuid():N}");
        Directory.CreateDirectory(Path);
    }

    public string this[string relative] => System.IO.Path.Combine(Path, relative);

    /// <summary>Writes bytes to a relative path (creating folders) and returns the full path.</summary>
    public string Write(string relative, byte[] data)
    {
        var p = this[relative];
        Directory.CreateDirectory(System.IO.Path.GetDirectoryName(p)!);
        File.WriteAllBytes(p, data);
        return p;
    }

    public void Dispose()
    {
        try
        {
            if (!OperatingSystem.IsWindows())
                foreach (var f in Directory.EnumerateFileSystemEntries(Path, "*", SearchOption.AllDirectories))
                    File.SetUnixFileMode(f, UnixFileMode.UserRead | UnixFileMode.UserWrite | UnixFileMode.UserExecute);
            Directory.Delete(Path, recursive: true);
        }
        catch (IOException) { }
        catch (UnauthorizedAccessException) { }
    }
}

/// <summary>Synthetic test images.</summary>
internal static class TestImages
{
    /// <summary>A deterministic image: gradients, a bar and noise, different for each seed.</summary>
    public static ImageData Synth(int width, int height, int channels, int seed)
    {
        var rng = new Random(seed);
        var px = new byte[width * height * channels];
        int bar = rng.Next(height);
        for (int y = 0; y < height; y++)
            for (int x = 0; x < width; x++)
                for (int c = 0; c < channels; c++)
                {
                    double v = c switch
                    {
                        0 => 255.0 * x / width,
                        1 => 255.0 * y / height,
                        2 => 128 + 100 * Math.Sin((x + y + seed) / 5.0),
                        _ => 200,
                    };
                    if (Math.Abs(y - bar) < 2) v = 255 - v;
                    px[(y * width + x) * channels + c] = (byte)Math.Clamp(v + rng.Next(-8, 9), 0, 255);
                }
        return new ImageData(width, height, channels, px);
    }

    public static byte[] Png(int width, int height, int channels, int seed) => PngEncoder.Encode(Synth(width, height, channels, seed));
}
