using System.Runtime.InteropServices;
using MLNet.Attention.Transforms;

namespace MLNet.Attention.Tests.Transforms;

/// <summary>FIFOs and other non-regular files named like images: refused or skipped at once, never opened (opening a
/// FIFO blocks until a writer comes, which in an image folder is forever).</summary>
[TestClass]
public sealed class SpecialFileTests
{
    [DllImport("libc", SetLastError = true)]
    private static extern int mkfifo([MarshalAs(UnmanagedType.LPUTF8Str)] string path, uint mode);

    /// <summary>Makes a FIFO at <paramref name="path"/>.</summary>
    internal static void MakeFifo(string path)
    {
        if (mkfifo(path, Convert.ToUInt32("644", 8)) != 0) Assert.Fail($"mkfifo {path}: errno {Marshal.GetLastPInvokeError()}");
    }

    private static string NewFolder()
    {
        string dir = Path.Combine(Path.GetTempPath(), "mlnet-special-" + Guid.NewGuid().ToString("N"));
        Directory.CreateDirectory(dir);
        return dir;
    }

    [TestMethod]
    [Timeout(60_000)]
    public void LoadingAFifoFailsAtOnceNamingIt()
    {
        string dir = NewFolder();
        try
        {
            string fifo = Path.Combine(dir, "pipe.png");
            MakeFifo(fifo);
            var e = Assert.ThrowsExactly<ImageDataException>(() => ImageDecoder.Load(fifo));
            Assert.AreEqual(fifo, e.Input);
            Assert.AreEqual(BadInputKind.Unreadable, e.Kind);
            StringAssert.Contains(e.Message, "a FIFO (named pipe), not a regular file");
            // A symbolic link to it is the same thing; /dev/zero (a character device) would never end.
            string link = Path.Combine(dir, "link.jpg");
            File.CreateSymbolicLink(link, fifo);
            StringAssert.Contains(Assert.ThrowsExactly<ImageDataException>(() => ImageDecoder.Load(link)).Message, "FIFO");
            StringAssert.Contains(Assert.ThrowsExactly<ImageDataException>(() => ImageDecoder.ReadFile("/dev/zero")).Message, "a character device");
        }
        finally
        {
            Directory.Delete(dir, true);
        }
    }

    [TestMethod]
    [Timeout(60_000)]
    public void AFifoInAnImageFolderIsSkippedAndReportedWhateverThePolicy()
    {
        string dir = NewFolder();
        try
        {
            var classes = ImageFolderWriter.ClassFolders(dir, ["a", "b"]);
            var image = new ImageData(4, 3, 1, new byte[12]);
            PngEncoder.Save(image, Path.Combine(classes[0], "1.png"));
            PngEncoder.Save(image, Path.Combine(classes[1], "2.png"));
            string fifo = Path.Combine(classes[1], "pipe.png");
            MakeFifo(fifo);
            foreach (var policy in new[] { BadInputPolicy.Throw, BadInputPolicy.Skip })
            {
                var data = ImageDataset.FromFolder(dir, new ImageFolderOptions { OnBadInput = policy });
                Assert.AreEqual(2, data.Count, policy.ToString());
                var entry = data.Report.Entries.Single();
                Assert.AreEqual((fifo, BadInputKind.Unreadable), (entry.Source, entry.Kind));
                StringAssert.Contains(entry.Reason, "FIFO");
                foreach (var s in data) s.Source.Load(1);
            }
        }
        finally
        {
            Directory.Delete(dir, true);
        }
    }
}
