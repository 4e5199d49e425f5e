using MLNet.Attention.Transforms;

namespace MLNet.Attention.Tests.Fuzz;

/// <summary>
/// Replays the native fuzzers' committed corpora (test/fixtures/fuzz/image_header and image_decode: the minimised
/// corpus and every input that once crashed) through the normal Release library, in the modes the libFuzzer
/// harnesses (native/fuzz/image_fuzz.cpp) use, so CI needs no clang. Allowed: a result or an ImageDataException naming
/// the input. (build/fuzz.sh --replay runs the same files through the ASan/UBSan builds.)
/// </summary>
[TestClass]
public sealed class ImageFuzzCorpusTests
{
    private static string[] Inputs(string target)
    {
        var files = ParserFuzzHarness.CommittedInputs(target);
        Assert.IsNotEmpty(files, $"no committed inputs under test/fixtures/fuzz/{target}");
        return files;
    }

    private static void Allowed(Action run, string name)
    {
        try
        {
            run();
        }
        catch (ImageDataException e)
        {
            Assert.AreEqual(name, e.Input, $"{Path.GetFileName(name)}: the error names another input");
        }
    }

    [TestMethod]
    public void HeaderCorpusReplays()
    {
        foreach (var f in Inputs("image_header"))
        {
            var data = File.ReadAllBytes(f);
            foreach (bool orient in new[] { false, true })
                foreach (long limit in new[] { 0L, ImageDecodeOptions.DefaultMaxPixels, 1L })
                    Allowed(() =>
                    {
                        var info = ImageDecoder.GetInfo(data, new ImageDecodeOptions { ApplyExifOrientation = orient, MaxPixels = limit }, f);
                        Assert.IsTrue(info.Width > 0 && info.Height > 0 && info.Channels is >= 1 and <= 4 && info.Orientation is >= 1 and <= 8, $"{f}: {info}");
                        if (limit > 0) Assert.IsLessThanOrEqualTo(limit, (long)info.Width * info.Height, $"{f}: pixel limit");
                    }, f);
        }
    }

    [TestMethod]
    public void DecodeCorpusReplays()
    {
        foreach (var f in Inputs("image_decode"))
        {
            var data = File.ReadAllBytes(f);
            // The harness's mode: channels and orientation from the length, a 4 Mpx limit.
            int channels = 1 + data.Length % 4;
            var options = new ImageDecodeOptions { ApplyExifOrientation = data.Length / 4 % 2 == 1, MaxPixels = 4L << 20 };
            Allowed(() =>
            {
                var info = ImageDecoder.GetInfo(data, options, f);
                var image = ImageDecoder.Decode(data, channels, options, f);
                Assert.AreEqual((info.Width, info.Height, channels), (image.Width, image.Height, image.Channels), f);
            }, f);
        }
    }

    /// <summary>The inputs that crashed the sanitizer builds: each is now refused with the reason, not decoded.</summary>
    [TestMethod]
    [DataRow("image_decode/crashes/jpeg-dht-257-codes.jpg", BadInputKind.Corrupt, "Huffman table (DHT)")]
    [DataRow("image_decode/crashes/jpeg-dht-after-padding.jpg", BadInputKind.Corrupt, "Huffman table (DHT)")]
    [DataRow("image_decode/crashes/png-ihdr-2e32-pixels-overflow.png", BadInputKind.TooLarge, "more than 2^63")]
    [DataRow("image_decode/crashes/jpeg-behind-ff-fill-taken-as-tga.jpg", BadInputKind.NotAnImage, "no JPEG, PNG, BMP, GIF, TGA or PNM signature")]
    [DataRow("image_decode/crashes/pnm-maxval-int-overflow.pgm", BadInputKind.Corrupt, "maximum value is larger than 65535")]
    public void CrashInputsAreRefusedWithTheirReason(string file, BadInputKind kind, string reason)
    {
        string path = ParserTargets.Fixture("fuzz", file);
        var data = File.ReadAllBytes(path);
        foreach (int channels in new[] { 1, 3 })
        {
            var e = Assert.ThrowsExactly<ImageDataException>(() => ImageDecoder.Decode(data, channels, null, path));
            Assert.AreEqual(kind, e.Kind, e.Message);
            StringAssert.Contains(e.Message, reason);
        }
    }
}
