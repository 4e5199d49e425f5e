using System.IO.Compression;
using System.Xml.Linq;

namespace MLNet.Attention.Tests.Packaging;

/// <summary>
/// The NuGet packages as a user gets them: build/pack.sh writes them to a local folder feed; a fresh console project in a
/// temporary folder (nuget.config naming that folder and nuget.org) adds MLNet.Attention, builds, trains on real
/// Fashion-MNIST PNG files, saves a model and predicts — with <c>dotnet run</c> and from <c>dotnet publish</c> output, with
/// and without a runtime identifier, checking each time that libmlnet_torch.so was loaded from the app's own folder (the
/// package's runtimes/linux-x64/native). The dotnet tool installs from the same feed and runs <c>mlnet-attention models</c>.
/// </summary>
[TestClass]
[TestCategory("Packaging")]
public sealed class PackageConsumerTests
{
    private static readonly string[] LibraryIds = ["MLNet.Attention", "MLNet.Attention.Trainers", "MLNet.Attention.Transforms", "MLNet.Attention.Backbones", "MLNet.Attention.Torch"];
    private static readonly TimeSpan Step = TimeSpan.FromMinutes(5);

    // A user's program: "train <model.zip>" writes 200 Fashion-MNIST PNGs with the package's ImageFolderWriter, trains a
    // tiny SE-ResNet-18 one epoch, saves it; "predict <model.zip> <image>" loads it and classifies the file. Both print
    // where the native library was loaded from (/proc/self/maps).
    private const string ConsumerProgram = """
        using System.Globalization;
        using MLNet.Attention;
        using MLNet.Attention.Estimators;
        using MLNet.Attention.Transforms;

        var ml = new MLContext(seed: 1);
        if (args[0] == "train")
        {
            var folder = Path.Combine(Path.GetDirectoryName(Path.GetFullPath(args[1]))!, "images");
            ImageFolderWriter.WriteFashionMnist(folder, train: true, limit: 200);
            var data = ml.Data.LoadFromImageFolder(folder);
            var pipeline = ml.Transforms.LoadImages("Image", null, "ImagePath", channels: 1)
                .Append(ml.Transforms.ExtractPixels("Features", "Image", scaleImage: 1f / 255))
                .Append(ml.MulticlassClassification.Trainers.SeResNet(new AttentionBackboneTrainer.Options
                { Arch = "resnet18", Attention = "se", SmallImage = true, WidthMultiplier = 0.125, MaxEpoch = 1, BatchSize = 32, LearningRate = 0.05 }));
            var model = pipeline.Fit(data);
            ml.Model.Save(model, data.Schema, args[1]);
            Console.WriteLine($"trained: {data.GetRowCount()} images, classes {string.Join(",", model.LastTransformer.Labels)}");
        }
        else
        {
            using var engine = ml.Model.CreatePredictionEngine<Input, Output>(ml.Model.Load(args[1], out _));
            var p = engine.Predict(new Input { ImagePath = args[2] });
            Console.WriteLine(string.Create(CultureInfo.InvariantCulture, $"prediction: {p.PredictedLabel} {p.Score.Sum():F4} {p.Score.Length}"));
        }
        Console.WriteLine("native: " + File.ReadLines("/proc/self/maps").Select(l => l.Split(' ', StringSplitOptions.RemoveEmptyEntries))
            .Where(f => f.Length >= 6 && f[5].EndsWith("libmlnet_torch.so", StringComparison.Ordinal)).Select(f => f[5]).FirstOrDefault());

        public sealed class Input { public string ImagePath { get; set; } = ""; }
        public sealed class Output { public string PredictedLabel { get; set; } = ""; public float[] Score { get; set; } = []; }
        """;

    [TestMethod]
    public void PackagesHoldTheAssembliesTheNativeLibraryAndTheirDependencies()
    {
        foreach (var id in LibraryIds.Append("mlnet-attention"))
        {
            var path = LocalFeed.PackagePath(id);
            Assert.IsTrue(File.Exists(path), $"{path} was not written");
            Console.WriteLine($"{Path.GetFileName(path)}: {new FileInfo(path).Length / 1024.0:F1} KiB");
        }
        Console.WriteLine($"build/pack.sh: {LocalFeed.PackTime.TotalSeconds:F1} s");
        CollectionAssert.Contains(LocalFeed.Entries("MLNet.Attention.Torch").ToList(), "runtimes/linux-x64/native/libmlnet_torch.so",
            "the native library in NuGet's runtimes layout");
        CollectionAssert.Contains(LocalFeed.Entries("mlnet-attention").ToList(), "tools/net10.0/any/libmlnet_torch.so", "the tool carries the native library next to its app");
        CollectionAssert.Contains(LocalFeed.Entries("mlnet-attention").ToList(), "tools/net10.0/any/DotnetToolSettings.xml");
        foreach (var id in LibraryIds)
        {
            var entries = LocalFeed.Entries(id);
            string assembly = id == "MLNet.Attention" ? "MLNet.Attention.Estimators" : id;
            CollectionAssert.Contains(entries.ToList(), $"lib/net10.0/{assembly}.dll", id);
            CollectionAssert.Contains(entries.ToList(), $"lib/net10.0/{assembly}.xml", $"{id}: the XML documentation (IntelliSense)");
            CollectionAssert.Contains(entries.ToList(), "README.md", id);
            var nuspec = Nuspec(id);
            XNamespace ns = nuspec.Root!.Name.Namespace;
            var meta = nuspec.Root!.Element(ns + "metadata")!;
            Assert.AreEqual(LocalFeed.Version, meta.Element(ns + "version")!.Value, id);
            StringAssert.Contains(meta.Element(ns + "description")!.Value, "libtorch", $"{id}: the description says libtorch must be installed");
            Assert.AreEqual("MIT", meta.Element(ns + "license")?.Value, id);
            Assert.AreEqual("README.md", meta.Element(ns + "readme")?.Value, id);
        }
        var dependencies = Nuspec("MLNet.Attention").Descendants().Where(e => e.Name.LocalName == "dependency")
            .ToDictionary(e => e.Attribute("id")!.Value, e => e.Attribute("version")!.Value);
        CollectionAssert.AreEquivalent(LibraryIds.Skip(1).ToArray(), dependencies.Keys.ToArray(), "MLNet.Attention brings the other four");
        Assert.IsTrue(dependencies.Values.All(v => v == LocalFeed.Version), "dependencies pinned to the same version");
    }

    [TestMethod]
    public void ConsoleAppFromThePackagesTrainsAndPredictsWithRunAndPublish()
    {
        var root = ExternalProcess.NewTempFolder("consumer");
        File.WriteAllText(Path.Combine(root, "nuget.config"), LocalFeed.NuGetConfig(LocalFeed.Folder));
        var env = LocalFeed.Environment;
        ExternalProcess.Dotnet(root, Step, env, "new", "console", "-n", "App", "-o", "App").ShouldSucceed();
        var app = Path.Combine(root, "App");
        ExternalProcess.Dotnet(app, Step, env, "add", "package", "MLNet.Attention", "--version", LocalFeed.Version).ShouldSucceed();
        File.WriteAllText(Path.Combine(app, "Program.cs"), ConsumerProgram);
        var model = Path.Combine(root, "model.zip");

        // dotnet run (Debug build, no runtime identifier): the native library sits in bin/.../runtimes/linux-x64/native.
        var run = ExternalProcess.Dotnet(app, Step, env, "run", "--", "train", model).ShouldSucceed();
        StringAssert.Contains(run.Output, "trained: 200 images, classes 0_T-shirt-top,1_Trouser", run.Tail());
        AssertNativeFrom(run, Path.Combine(app, "bin"));
        Assert.IsTrue(File.Exists(model), "the model was saved");
        var image = Directory.GetFiles(Path.Combine(root, "images"), "*.png", SearchOption.AllDirectories).Order(StringComparer.Ordinal).First();

        // dotnet publish without and with a runtime identifier; each published app loads the model and classifies the PNG.
        foreach (var rid in new[] { (string?)null, "linux-x64" })
        {
            var output = Path.Combine(root, rid is null ? "publish-portable" : "publish-" + rid);
            string[] publish = rid is null
                ? ["publish", "-c", "Release", "-o", output]
                : ["publish", "-c", "Release", "-r", rid, "--self-contained", "false", "-o", output];
            ExternalProcess.Dotnet(app, Step, env, publish).ShouldSucceed();
            string expectedNative = rid is null ? Path.Combine(output, "runtimes", "linux-x64", "native", "libmlnet_torch.so") : Path.Combine(output, "libmlnet_torch.so");
            Assert.IsTrue(File.Exists(expectedNative), $"publish {(rid ?? "portable")} wrote {expectedNative}");
            var predict = rid is null
                ? ExternalProcess.Dotnet(root, Step, env, Path.Combine(output, "App.dll"), "predict", model, image)
                : ExternalProcess.Run(Path.Combine(output, "App"), ["predict", model, image], root, Step, env);
            predict.ShouldSucceed();
            var line = predict.Lines("prediction: ").Single();
            var parts = line["prediction: ".Length..].Split(' ');
            StringAssert.Matches(parts[0], new System.Text.RegularExpressions.Regex(@"^\d_"), "a class folder name");
            Assert.AreEqual("1.0000", parts[1], "the probabilities sum to 1");
            Assert.AreEqual("10", parts[2], "one probability per class");
            Assert.AreEqual(expectedNative, predict.Lines("native: ").Single()["native: ".Length..], "the native library loaded is the published one");
        }
    }

    [TestMethod]
    public void ToolInstallsFromTheFeedAndListsTheModels()
    {
        // No nuget.config here (--add-source cannot be combined with source mapping): the user's defaults plus the folder.
        var root = ExternalProcess.NewTempFolder("tool");
        var tools = Path.Combine(root, "tools");
        ExternalProcess.Dotnet(root, Step, LocalFeed.Environment, "tool", "install", "mlnet-attention", "--version", LocalFeed.Version,
            "--tool-path", tools, "--add-source", LocalFeed.Folder).ShouldSucceed();
        // Every registry model is built and measured; at width 1/8 and 32 px (the command's own options) that takes
        // seconds instead of the 30-40 s of the 224-px, full-width table.
        var models = ExternalProcess.Run(Path.Combine(tools, "mlnet-attention"), ["models", "--width", "0.125", "--image-size", "32", "--classes", "10"],
            root, Step, LocalFeed.Environment).ShouldSucceed();
        var lines = models.Output.Split('\n');
        foreach (var info in MLNet.Attention.Backbones.Models.ModelRegistry.All)
            Assert.IsTrue(lines.Any(l => l.StartsWith(info.Name + " ", StringComparison.Ordinal)), $"'{info.Name}' listed:\n{models.Tail()}");
        var (parameters, _) = MLNet.Attention.Backbones.Models.ModelRegistry.Measure("resnet50",
            new MLNet.Attention.Backbones.Models.BackboneOptions(NumClasses: 10, WidthMultiplier: 0.125), 32);
        string expected = (parameters / 1e6).ToString("F2", System.Globalization.CultureInfo.InvariantCulture) + "M";
        StringAssert.Contains(lines.Single(l => l.StartsWith("resnet50 ", StringComparison.Ordinal)), expected,
            "the installed tool measures ResNet-50 as this build does (through its own native library)");
    }

    private static XDocument Nuspec(string id)
    {
        using var zip = ZipFile.OpenRead(LocalFeed.PackagePath(id));
        var entry = zip.Entries.Single(e => e.FullName.EndsWith(".nuspec", StringComparison.Ordinal));
        using var s = entry.Open();
        return XDocument.Load(s);
    }

    private static void AssertNativeFrom(ProcessResult r, string folder)
    {
        var native = r.Lines("native: ").Single()["native: ".Length..];
        Assert.IsTrue(native.StartsWith(folder + Path.DirectorySeparatorChar, StringComparison.Ordinal) && native.EndsWith("/runtimes/linux-x64/native/libmlnet_torch.so", StringComparison.Ordinal),
            $"libmlnet_torch.so loaded from {native}, expected the package's copy under {folder}/…/runtimes/linux-x64/native");
    }
}
