using MLNet.Attention.Data;
using MLNet.Attention.Estimators;
using MLNet.Attention.Tests.Transforms;
using MLNet.Attention.Transforms;

namespace MLNet.Attention.Tests.Estimators;

/// <summary>
/// The image transforms as estimators: the same values as the image library's own transforms, the output types
/// (sizes, channels, vector dimensions), augmentations that change images only in training, and the image pipeline a
/// trainer reads back from a chain.
/// </summary>
[TestClass]
public sealed class ImageTransformTests
{
    private static readonly Lazy<string[]> s_colorImages = new(() =>
    {
        var folder = EstimatorTestData.NewFolder("color");
        return Enumerable.Range(0, 4).Select(i =>
        {
            var p = Path.Combine(folder, $"img{i}.png");
            PngEncoder.Save(TestImages.Synth(48 + 8 * i, 36, 3, seed: i), p);
            return p;
        }).ToArray();
    });

    private static IDataView Paths(MLContext ml) =>
        ml.Data.LoadFromEnumerable(s_colorImages.Value.Select(p => new EstimatorTestData.LabelledPath { ImagePath = p, Label = "x" }).ToList());

    [TestMethod]
    public void ChainEqualsTheImageLibrarysTransforms()
    {
        var ml = new MLContext(seed: 1);
        var data = Paths(ml);
        var view = ml.Transforms.LoadImages("Image", null, "ImagePath")
            .Append(ml.Transforms.ResizeImages("Image", 40, 32, resizing: ResizingKind.IsoCrop))
            .Append(ml.Transforms.CenterCrop("Image", 32, 32))
            .Append(ml.Transforms.ExtractPixels("Features", "Image", scaleImage: 1f / 255))
            .Append(ml.Transforms.NormalizeImage("Features", new[] { 0.485f, 0.456f, 0.406f }, new[] { 0.229f, 0.224f, 0.225f }))
            .Fit(data).Transform(data);
        Assert.AreEqual(new ImageDataViewType(32, 32, 3), view.Schema["Image"].Type);
        Assert.AreEqual(new VectorDataViewType(NumberDataViewType.Single, 3, 32, 32), view.Schema["Features"].Type);
        Assert.IsTrue(view.Schema.Single(c => c.Name == "Features" && c.IsHidden).Index < view.Schema["Features"].Index, "a rewritten column hides the older one");

        var features = view.GetColumn<float[]>("Features").ToList();
        for (int i = 0; i < features.Count; i++)
        {
            var img = ImageDecoder.Load(s_colorImages.Value[i], 3);
            img = new CenterCrop(32, 32).Transform(new ResizeImages(40, 32, ResizingKind.IsoCrop).Transform(img));
            var expected = NormalizeImage.ImageNet.Transform(ExtractPixels.ToTensor().Extract(img)).ToArray();
            CollectionAssert.AreEqual(expected, features[i], $"image {i}: the estimators compute what the image library computes");
        }
    }

    [TestMethod]
    public void AugmentationsChangeImagesOnlyWhileTraining()
    {
        var ml = new MLContext(seed: 1);
        var data = Paths(ml);
        var view = ml.Transforms.LoadImages("Image", null, "ImagePath")
            .Append(ml.Transforms.ResizeImages("Image", 32, 32))
            .Append(ml.Transforms.RandomCrop("Image", 32, 32, padding: 4))
            .Append(ml.Transforms.RandomHorizontalFlip("Image", probability: 1.0))
            .Append(ml.Transforms.ColorJitter("Image", brightness: 0.5, hue: 0.2))
            .Append(ml.Transforms.ExtractPixels("Features", "Image", scaleImage: 1f / 255))
            .Append(ml.Transforms.RandomErasing("Features", probability: 1.0))
            .Fit(data).Transform(data);
        var resizedOnly = ml.Transforms.LoadImages("Image", null, "ImagePath").Append(ml.Transforms.ResizeImages("Image", 32, 32))
            .Append(ml.Transforms.ExtractPixels("Features", "Image", scaleImage: 1f / 255)).Fit(data).Transform(data);
        var got = view.GetColumn<float[]>("Features").ToList();
        var plain = resizedOnly.GetColumn<float[]>("Features").ToList();
        for (int i = 0; i < got.Count; i++) CollectionAssert.AreEqual(plain[i], got[i], $"image {i}: outside training the augmentations leave it alone");

        // What a trainer reads back: the same steps as one pipeline, whose random source makes the augmentations act.
        var plan = ImagePlan.Resolve(view, view.Schema["Features"])!;
        CollectionAssert.AreEqual(new[] { "LoadImages", "ResizeImages", "RandomCrop", "RandomHorizontalFlip", "ColorJitter", "ExtractPixels", "RandomErasing" },
            plan.Steps.Select(s => s.Name).ToArray());
        Assert.AreEqual(ImageBaseKind.Path, plan.BaseKind);
        Assert.AreEqual("ImagePath", plan.Base.Name);
        var pipeline = plan.ToPipeline();
        var img = ImageDecoder.Load(s_colorImages.Value[0], 3);
        CollectionAssert.AreEqual(plain[0], pipeline.Run(img).ToArray(), "evaluation mode: no augmentation");
        CollectionAssert.AreNotEqual(plain[0], pipeline.Run(img, new Random(3)).ToArray(), "training mode: augmented");
        CollectionAssert.AreEqual(pipeline.Run(img, new Random(3)).ToArray(), pipeline.Run(img, new Random(3)).ToArray(), "seeded");
    }

    [TestMethod]
    public void BytesGrayscaleAndShapes()
    {
        var ml = new MLContext(seed: 1);
        var data = Paths(ml);
        var view = ml.Transforms.LoadRawImageBytes("Bytes", null, "ImagePath")
            .Append(ml.Transforms.LoadImages("FromBytes", null, "Bytes"))
            .Append(ml.Transforms.LoadImages("FromPath", null, "ImagePath"))
            .Append(ml.Transforms.ConvertToGrayscale("Gray", "FromBytes"))
            .Append(ml.Transforms.ResizeShorterSide("Small", 18, "Gray"))
            .Fit(data).Transform(data);
        Assert.AreEqual(new VectorDataViewType(NumberDataViewType.Byte), view.Schema["Bytes"].Type);
        Assert.AreEqual(new ImageDataViewType(0, 0, 1), view.Schema["Gray"].Type);
        var bytes = view.GetColumn<byte[]>("Bytes").ToList();
        CollectionAssert.AreEqual(File.ReadAllBytes(s_colorImages.Value[1]), bytes[1]);
        var fromBytes = view.GetColumn<ImageData>("FromBytes").ToList();
        var fromPath = view.GetColumn<ImageData>("FromPath").ToList();
        for (int i = 0; i < 4; i++) CollectionAssert.AreEqual(fromPath[i].Pixels, fromBytes[i].Pixels, "bytes decode as the file does");
        var small = view.GetColumn<ImageData>("Small").ToList();
        Assert.AreEqual((24, 18, 1), (small[0].Width, small[0].Height, small[0].Channels), "shorter side 36 -> 18, aspect kept");

        var shape = ml.Transforms.LoadImages("Image", null, "ImagePath").Append(ml.Transforms.ResizeImages("Image", 28, 28))
            .Append(ml.Transforms.ExtractPixels("Features", "Image"))
            .Append(ml.MulticlassClassification.Trainers.EpsaNet())
            .GetOutputSchema(SchemaShape.Create(data.Schema));
        Assert.IsTrue(shape.TryFindColumn("Score", out var score) && score.Kind == SchemaShape.VectorKind.Vector && score.ItemType == NumberDataViewType.Single);
        Assert.IsTrue(shape.TryFindColumn("PredictedLabel", out var predicted) && predicted.ItemType == TextDataViewType.Instance);
    }
}
