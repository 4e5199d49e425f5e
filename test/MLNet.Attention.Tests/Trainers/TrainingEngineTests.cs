using MLNet.Attention.Torch;
using MLNet.Attention.Torch.Nn;
using MLNet.Attention.Trainers;
using MLNet.Attention.Transforms;
using static MLNet.Attention.Tests.Trainers.TrainingTestData;

namespace MLNet.Attention.Tests.Trainers;

/// <summary>
/// The training engine on 256 real Fashion-MNIST images with ResNet-18 at 1/8 width: learning, metrics, determinism,
/// resume after an interruption, divergence, early stopping, cancellation, frozen parameters, skipped inputs.
/// </summary>
[TestClass]
public sealed class TrainingEngineTests : OneThreadTest
{
    // One intra-op thread: the tiny model gains little from two, and a single thread stays fast on a machine shared
    // with other work (two spinning OpenMP threads on two busy cores slow a step down many times over).
    private static TrainingSettings Base => BaseSettings;

    [TestMethod]
    public void LossDecreasesAndEveryEpochIsReported()
    {
        using var model = NewModel();
        var reported = new List<EpochMetrics>();
        var log = new List<string>();
        var engine = new TrainingEngine(Base with { MaxEpoch = 3, MetricsCallback = reported.Add });
        engine.Log += (_, line) => log.Add(line);
        var result = engine.Fit(model, Train, Validation, TrainPipeline, EvalPipeline);

        Assert.HasCount(3, result.History);
        CollectionAssert.AreEqual(result.History.ToArray(), reported.ToArray());
        Assert.IsFalse(result.ResumedFromCheckpoint);
        Assert.AreEqual(1, result.StartEpoch);
        Assert.AreEqual(3, result.BestEpoch);
        Assert.IsFalse(result.StoppedEarly);
        Assert.AreEqual(0, result.BadInput.Count);
        var h = result.History;
        Assert.IsLessThan(h[0].TrainLoss, h[2].TrainLoss, $"train loss {h[0].TrainLoss} -> {h[2].TrainLoss}");
        Assert.IsGreaterThan(h[0].TrainAccuracy, h[2].TrainAccuracy);
        Assert.IsGreaterThan(0.4, h[2].ValidationAccuracy!.Value, "well above the 10% of chance after 3 epochs");
        for (int i = 0; i < 3; i++)
        {
            Assert.AreEqual(i + 1, h[i].Epoch);
            Assert.AreEqual(3, h[i].MaxEpoch);
            Assert.IsNotNull(h[i].ValidationLoss);
            Assert.IsGreaterThan(0, h[i].ImagesPerSecond);
            // Cosine over 3 x 8 steps; the reported rate is the one of the epoch's last step (index 8i + 7).
            double lr = 0.05 * (1 + Math.Cos(Math.PI * (8 * i + 7) / 24)) / 2;
            Assert.AreEqual(lr, h[i].LearningRate, 1e-12);
        }
        Assert.IsGreaterThan(h[0].Elapsed, h[2].Elapsed);
        Assert.AreEqual(TimeSpan.Zero, h[2].EstimatedRemaining);
        Assert.IsGreaterThan(TimeSpan.Zero, h[0].EstimatedRemaining);
        Assert.IsTrue(log[0].StartsWith("training ResNet", StringComparison.Ordinal), log[0]);
        Assert.IsTrue(log.Any(l => l.StartsWith("epoch 2/3: train loss ", StringComparison.Ordinal) && l.Contains("val acc", StringComparison.Ordinal) && l.Contains("ETA", StringComparison.Ordinal)), string.Join("\n", log));
        Assert.IsFalse(model.IsTraining, "the model is left in evaluation mode");
    }

    [TestMethod]
    public void BatchCallbackReportsEveryBatchAndEndsOnTheEpochMetrics()
    {
        using var model = NewModel();
        var batches = new List<BatchProgress>();
        var epochs = new List<EpochMetrics>();
        var result = new TrainingEngine(Base with { MaxEpoch = 2, BatchCallback = batches.Add, MetricsCallback = epochs.Add })
            .Fit(model, Train, null, TrainPipeline, EvalPipeline);
        int per = (Train.Count + Base.BatchSize - 1) / Base.BatchSize;
        Assert.HasCount(2 * per, batches);
        for (int i = 0; i < batches.Count; i++)
        {
            Assert.AreEqual(i / per + 1, batches[i].Epoch);
            Assert.AreEqual(i % per + 1, batches[i].Batch);
            Assert.AreEqual(per, batches[i].BatchesPerEpoch);
            Assert.AreEqual(2, batches[i].MaxEpoch);
            Assert.IsTrue(batches[i].RunningAccuracy is >= 0 and <= 1 && batches[i].ImagesPerSecond > 0);
        }
        // the last batch of an epoch carries the epoch's loss and accuracy
        for (int e = 0; e < 2; e++)
        {
            var last = batches[(e + 1) * per - 1];
            Assert.AreEqual(epochs[e].TrainLoss, last.RunningLoss, 1e-12);
            Assert.AreEqual(epochs[e].TrainAccuracy, last.RunningAccuracy, 1e-12);
        }
    }

    [TestMethod]
    public void TwoRunsGiveBitIdenticalWeightsWhateverTheWorkerCount()
    {
        byte[][] Run(int workers, ulong seed, out TrainingResult result)
        {
            using var model = NewModel();
            result = new TrainingEngine(Base with { Workers = workers, Seed = seed, LabelSmoothing = 0.1 }).Fit(model, Train, null, TrainPipeline, EvalPipeline);
            return Snapshot(model);
        }
        var a = Run(2, 3, out var ra);
        var b = Run(0, 3, out var rb);
        Assert.IsTrue(SameWeights(a, b), "same seed: same weights, bit for bit");
        Assert.AreEqual(ra.History[1].TrainLoss, rb.History[1].TrainLoss);
        var c = Run(2, 4, out _);
        Assert.IsFalse(SameWeights(a, c), "another seed shuffles differently");
    }

    [TestMethod]
    public void ResumeAfterCancellationMidEpochEqualsAnUninterruptedRun()
    {
        var settings = Base with { MaxEpoch = 3, Scheduler = SchedulerKind.Cosine };
        byte[][] expected;
        TrainingResult uninterrupted;
        using (var a = new HookedModel(NewModel()))
        {
            uninterrupted = new TrainingEngine(settings).Fit(a, Train, Validation, TrainPipeline, EvalPipeline);
            expected = Snapshot(a);
        }

        using var dir = new TempFolder();
        var withCheckpoints = settings with { CheckpointDirectory = dir.Path };
        using (var cts = new CancellationTokenSource())
        using (var b = new HookedModel(NewModel()))
        {
            // 8 batches per epoch: cancel during the 4th batch of epoch 2; the 5th never starts.
            b.OnForward = (n, y) =>
            {
                if (n == 8 + 4) cts.Cancel();
                return y;
            };
            var engine = new TrainingEngine(withCheckpoints);
            Assert.Throws<OperationCanceledException>(() => engine.Fit(b, Train, Validation, TrainPipeline, EvalPipeline, cts.Token));
            Assert.IsTrue(File.Exists(Path.Combine(dir.Path, TrainingEngine.CheckpointFileName)));
            using var history = System.Text.Json.JsonDocument.Parse(File.ReadAllText(Path.Combine(dir.Path, "history.json")));
            Assert.AreEqual(1, history.RootElement.GetArrayLength(), "the checkpoint is the one of epoch 1");
            Assert.AreEqual(1, history.RootElement[0].GetProperty("Epoch").GetInt32());
            Assert.AreEqual(0, Directory.GetFiles(dir.Path, "*.tmp", SearchOption.AllDirectories).Length + Directory.GetFiles(dir.Path, ".*").Length, "no temporary file is left");
        }

        // A new process would do this: a fresh engine and a freshly initialised model.
        using var c = new HookedModel(NewModel(seed: 99));
        var log = new List<string>();
        var resumedEngine = new TrainingEngine(withCheckpoints);
        resumedEngine.Log += (_, l) => log.Add(l);
        var resumed = resumedEngine.Fit(c, Train, Validation, TrainPipeline, EvalPipeline);
        Assert.IsTrue(resumed.ResumedFromCheckpoint);
        Assert.AreEqual(2, resumed.StartEpoch);
        Assert.HasCount(3, resumed.History);
        Assert.IsTrue(log.Any(l => l.StartsWith("resuming from", StringComparison.Ordinal) && l.Contains("1 of 3 epochs done", StringComparison.Ordinal)), string.Join("\n", log));
        Assert.IsTrue(SameWeights(expected, Snapshot(c)), "the resumed run ends with the uninterrupted run's weights, bit for bit");
        AssertSameTrajectory(uninterrupted.History, resumed.History);
    }

    [TestMethod]
    public void AdamWOneCycleResumesAfterCancellingAtTheEndOfEpochOne()
    {
        var settings = Base with { Optimizer = OptimizerKind.AdamW, LearningRate = 0.01, Scheduler = SchedulerKind.OneCycle, GradientClipNorm = 5 };
        byte[][] expected;
        TrainingResult uninterrupted;
        using (var a = NewModel())
        {
            uninterrupted = new TrainingEngine(settings).Fit(a, Train, null, TrainPipeline, EvalPipeline);
            expected = Snapshot(a);
        }

        using var dir = new TempFolder();
        using var cts = new CancellationTokenSource();
        var first = settings with
        {
            CheckpointDirectory = dir.Path,
            MetricsCallback = m =>
            {
                if (m.Epoch == 1) cts.Cancel();
            },
        };
        using (var b = NewModel())
            Assert.Throws<OperationCanceledException>(() => new TrainingEngine(first).Fit(b, Train, null, TrainPipeline, EvalPipeline, cts.Token));

        using var c = NewModel(seed: 5);
        var resumed = new TrainingEngine(settings with { CheckpointDirectory = dir.Path }).Fit(c, Train, null, TrainPipeline, EvalPipeline);
        Assert.AreEqual(2, resumed.StartEpoch);
        Assert.IsTrue(SameWeights(expected, Snapshot(c)));
        AssertSameTrajectory(uninterrupted.History, resumed.History);

        // The checkpoint now holds a finished run: fitting again trains nothing and leaves the same weights.
        using var d = NewModel(seed: 6);
        var again = new TrainingEngine(settings with { CheckpointDirectory = dir.Path }).Fit(d, Train, null, TrainPipeline, EvalPipeline);
        Assert.AreEqual(3, again.StartEpoch);
        Assert.HasCount(2, again.History);
        Assert.IsTrue(SameWeights(expected, Snapshot(d)));
    }

    [TestMethod]
    public void CheckpointOfAnotherRunIsNotResumed()
    {
        using var dir = new TempFolder();
        using (var a = NewModel())
            new TrainingEngine(Base with { MaxEpoch = 1, CheckpointDirectory = dir.Path }).Fit(a, Train, null, TrainPipeline, EvalPipeline);
        using var b = NewModel();
        var e = Assert.Throws<InvalidOperationException>(() =>
            new TrainingEngine(Base with { MaxEpoch = 1, LearningRate = 0.1, CheckpointDirectory = dir.Path }).Fit(b, Train, null, TrainPipeline, EvalPipeline));
        StringAssert.Contains(e.Message, "LearningRate: 0.05 in the checkpoint, 0.1 now");
        using var other = NewModel(classes: 10);
        other.RequiresGrad(false);
        foreach (var (name, p) in other.NamedParameters())
            if (name.StartsWith("fc.", StringComparison.Ordinal)) p.RequiresGrad = true;
        var e2 = Assert.Throws<InvalidOperationException>(() =>
            new TrainingEngine(Base with { MaxEpoch = 1, CheckpointDirectory = dir.Path }).Fit(other, Train, null, TrainPipeline, EvalPipeline));
        StringAssert.Contains(e2.Message, "Model:");
    }

    [TestMethod]
    public void LeftoversOfAnInterruptedWriteAreCleanedAndACorruptCheckpointIsNamed()
    {
        using var dir = new TempFolder();
        var settings = Base with { MaxEpoch = 1, CheckpointDirectory = dir.Path };
        byte[][] trained;
        using (var a = NewModel())
        {
            new TrainingEngine(settings).Fit(a, Train, null, TrainPipeline, EvalPipeline);
            trained = Snapshot(a);
        }
        // A process killed while writing leaves its temporary file; the checkpoint beside it is the previous one.
        string stale = Path.Combine(dir.Path, $".{TrainingEngine.CheckpointFileName}.0123456789abcdef.tmp");
        File.WriteAllBytes(stale, new byte[100]);
        using (var b = NewModel(seed: 12))
        {
            var r = new TrainingEngine(settings).Fit(b, Train, null, TrainPipeline, EvalPipeline);
            Assert.IsTrue(r.ResumedFromCheckpoint);
            Assert.IsTrue(SameWeights(trained, Snapshot(b)));
        }
        Assert.IsFalse(File.Exists(stale));

        // A checkpoint damaged outside the engine (a partial copy) is an error naming the file, not a silent restart.
        string path = Path.Combine(dir.Path, TrainingEngine.CheckpointFileName);
        var bytes = File.ReadAllBytes(path);
        File.WriteAllBytes(path, bytes.AsSpan(0, bytes.Length / 2).ToArray());
        using var c = NewModel();
        var e = Assert.Throws<InvalidDataException>(() => new TrainingEngine(settings).Fit(c, Train, null, TrainPipeline, EvalPipeline));
        StringAssert.Contains(e.Message, TrainingEngine.CheckpointFileName);
    }

    [TestMethod]
    public void NonFiniteLossStopsTrainingNamingEpochAndBatch()
    {
        using var model = new HookedModel(NewModel());
        var before = Snapshot(model);
        model.OnForward = (n, y) => n == 8 + 3 ? y * double.NaN : y;
        var e = Assert.Throws<TrainingDivergedException>(() =>
            new TrainingEngine(Base).Fit(model, Train, null, TrainPipeline, EvalPipeline));
        Assert.AreEqual(2, e.Epoch);
        Assert.AreEqual(3, e.Batch);
        Assert.IsTrue(double.IsNaN(e.Loss));
        StringAssert.Contains(e.Message, "epoch 2, batch 3");
        Assert.IsFalse(SameWeights(before, Snapshot(model)));
        foreach (var (_, p) in model.StateDict())
            if (p.DType == DType.Float32)
                Assert.IsTrue(p.IsFinite().LogicalNot().Sum().Item() == 0, "the step with the NaN loss was not applied");
    }

    [TestMethod]
    public void HugeLearningRateDiverges()
    {
        using var model = NewModel();
        var e = Assert.Throws<TrainingDivergedException>(() =>
            new TrainingEngine(Base with { LearningRate = 1e6, Momentum = 0, Scheduler = SchedulerKind.None, MaxEpoch = 3 })
                .Fit(model, Train, null, TrainPipeline, EvalPipeline));
        StringAssert.Contains(e.Message, $"epoch {e.Epoch}, batch {e.Batch}");
    }

    [TestMethod]
    public void EarlyStoppingRestoresTheBestWeights()
    {
        // Random training labels: the network memorises noise, so the real validation loss soon stops improving.
        var random = new Random(11);
        var noisy = new ImageDataset(Train.Select(s => new ImageSample(s.Source, random.Next(10))).ToList(), Train.ClassNames);
        using var model = NewModel();
        var snapshots = new Dictionary<int, byte[][]>();
        using var dir = new TempFolder();
        var settings = Base with
        {
            MaxEpoch = 10, LearningRate = 0.1, Scheduler = SchedulerKind.None, EarlyStoppingPatience = 2,
            CheckpointDirectory = dir.Path, MetricsCallback = m => snapshots[m.Epoch] = Snapshot(model),
        };
        var log = new List<string>();
        var engine = new TrainingEngine(settings);
        engine.Log += (_, l) => log.Add(l);
        var result = engine.Fit(model, noisy, Validation, TrainPipeline, EvalPipeline);

        Assert.IsTrue(result.StoppedEarly, string.Join("\n", log));
        int best = result.History.MinBy(m => m.ValidationLoss!.Value)!.Epoch;
        Assert.AreEqual(best, result.BestEpoch);
        Assert.HasCount(best + 2, result.History);
        Assert.IsLessThan(10, result.History.Count);
        Assert.AreNotEqual(result.History.Count, best);
        Assert.IsTrue(SameWeights(snapshots[best], Snapshot(model)), "the best epoch's weights are restored");
        Assert.IsFalse(SameWeights(snapshots[result.History.Count], Snapshot(model)));
        Assert.IsTrue(log.Any(l => l.StartsWith("early stopping after epoch", StringComparison.Ordinal)));
        Assert.IsTrue(log.Any(l => l.StartsWith($"restored the weights of epoch {best}", StringComparison.Ordinal)));

        // Fitting again with the finished checkpoint trains nothing and gives the same best weights.
        using var again = NewModel(seed: 8);
        var second = new TrainingEngine(settings with { MetricsCallback = null }).Fit(again, noisy, Validation, TrainPipeline, EvalPipeline);
        Assert.IsTrue(second.StoppedEarly);
        Assert.AreEqual(best, second.BestEpoch);
        Assert.IsTrue(SameWeights(snapshots[best], Snapshot(again)));
    }

    [TestMethod]
    public void CancellationBeforeTheFirstBatchWritesNoCheckpoint()
    {
        using var dir = new TempFolder();
        using var model = NewModel();
        var before = Snapshot(model);
        Assert.Throws<OperationCanceledException>(() =>
            new TrainingEngine(Base with { CheckpointDirectory = dir.Path }).Fit(model, Train, null, TrainPipeline, EvalPipeline, new CancellationToken(true)));
        Assert.IsFalse(File.Exists(Path.Combine(dir.Path, TrainingEngine.CheckpointFileName)));
        Assert.IsTrue(SameWeights(before, Snapshot(model)));
    }

    [TestMethod]
    public void FrozenParametersStayFrozen()
    {
        using var model = NewModel();
        model.RequiresGrad(false);
        foreach (var (name, p) in model.NamedParameters())
            if (name.StartsWith("fc.", StringComparison.Ordinal)) p.RequiresGrad = true;
        var before = model.NamedParameters().ToDictionary(p => p.Key, p => p.Value.ToBytes());
        new TrainingEngine(Base with { MaxEpoch = 1, Optimizer = OptimizerKind.AdamW }).Fit(model, Train, null, TrainPipeline, EvalPipeline);
        int frozen = 0;
        foreach (var (name, p) in model.NamedParameters())
        {
            bool same = before[name].AsSpan().SequenceEqual(p.ToBytes());
            if (name.StartsWith("fc.", StringComparison.Ordinal)) Assert.IsFalse(same, $"{name} was trained");
            else
            {
                Assert.IsTrue(same, $"{name} is frozen");
                frozen++;
            }
        }
        Assert.IsGreaterThan(10, frozen);
    }

    [TestMethod]
    public void BadInputsAreSkippedAndReported()
    {
        var good = Train.Take(60).ToList();
        var train = new ImageDataset(good.Concat(
        [
            new ImageSample(new EncodedImageSource(new byte[] { 1, 2, 3, 4 }, "garbage.png"), 1),
            new ImageSample(new EncodedImageSource(new byte[] { 0x89, 0x50, 0x4E, 0x47, 0x0D, 0x0A, 0x1A, 0x0A, 0, 0 }, "truncated.png"), 2),
        ]), Train.ClassNames);
        var validation = new ImageDataset(Validation.Take(30).Append(new ImageSample(new EncodedImageSource(new byte[] { 7 }, "val-bad.jpg"), 0)), Train.ClassNames);

        using var model = NewModel();
        var log = new List<string>();
        var engine = new TrainingEngine(Base with { MaxEpoch = 2, BatchSize = 16, OnBadInput = BadInputPolicy.Skip });
        engine.Log += (_, l) => log.Add(l);
        var result = engine.Fit(model, train, validation, TrainPipeline, EvalPipeline);
        Assert.AreEqual(3, result.BadInput.Count);
        CollectionAssert.AreEqual(new[] { "garbage.png", "truncated.png", "val-bad.jpg" }, result.BadInput.Entries.Select(e => e.Source).ToArray());
        Assert.IsTrue(log.Any(l => l.Contains("3 bad input(s) skipped so far", StringComparison.Ordinal)), string.Join("\n", log));
        Assert.IsTrue(log.Any(l => l.StartsWith("3 bad inputs skipped", StringComparison.Ordinal)), string.Join("\n", log));

        using var strict = NewModel();
        var e = Assert.Throws<ImageDataException>(() =>
            new TrainingEngine(Base with { MaxEpoch = 1, BatchSize = 16 }).Fit(strict, train, null, TrainPipeline, EvalPipeline));
        StringAssert.Contains(e.Message, ".png");
    }

    [TestMethod]
    [Timeout(600_000)]
    public void AFolderWithOneBadImageAndAFifoTrainsWhenSkipping()
    {
        // A real image folder: 400 Fashion-MNIST PNGs, one corrupt file and one FIFO, all named *.png.
        string dir = Path.Combine(Path.GetTempPath(), "mlnet-badfolder-" + Guid.NewGuid().ToString("N"));
        try
        {
            ImageFolderWriter.WriteFashionMnist(dir, limit: 400);
            var classDirs = Directory.GetDirectories(dir).Order(StringComparer.Ordinal).ToArray();
            string bad = Path.Combine(classDirs[3], "bad.png");
            File.WriteAllBytes(bad, [0x89, (byte)'P', (byte)'N', (byte)'G', 13, 10, 26, 10, 0, 0, 0, 13, (byte)'I', (byte)'H', (byte)'D', (byte)'R', 1, 2]);
            string fifo = Path.Combine(classDirs[5], "pipe.png");
            Transforms.SpecialFileTests.MakeFifo(fifo);

            // Default (Throw): the FIFO is left out at listing, the corrupt file stops training with its name.
            var strictData = ImageDataset.FromFolder(dir);
            Assert.AreEqual(400 + 1, strictData.Count);
            using (var strict = NewModel())
            {
                var e = Assert.Throws<ImageDataException>(() =>
                    new TrainingEngine(Base with { MaxEpoch = 1 }).Fit(strict, strictData, null, TrainPipeline, EvalPipeline));
                Assert.AreEqual(bad, e.Input);
                Assert.AreEqual(BadInputKind.Truncated, e.Kind, e.Message);
            }

            // Skip: one epoch over the rest; both named in the log and in the result.
            var data = ImageDataset.FromFolder(dir, new ImageFolderOptions { OnBadInput = BadInputPolicy.Skip });
            using var model = NewModel();
            var log = new List<string>();
            var engine = new TrainingEngine(Base with { MaxEpoch = 1, OnBadInput = BadInputPolicy.Skip });
            engine.Log += (_, l) => log.Add(l);
            var result = engine.Fit(model, data, null, TrainPipeline, EvalPipeline);
            Assert.HasCount(1, result.History);
            Assert.AreEqual(2, result.BadInput.Count, result.BadInput.ToString());
            CollectionAssert.AreEquivalent(new[] { bad, fifo }, result.BadInput.Entries.Select(e => e.Source).ToArray());
            Assert.AreEqual(1, result.BadInput.CountOf(BadInputKind.Truncated));
            Assert.AreEqual(1, result.BadInput.CountOf(BadInputKind.Unreadable));
            string all = string.Join("\n", log);
            Assert.IsTrue(log.Any(l => l.StartsWith("warning: listing the data left out", StringComparison.Ordinal) && l.Contains(fifo, StringComparison.Ordinal)), all);
            Assert.IsTrue(log.Any(l => l.StartsWith("2 bad inputs skipped", StringComparison.Ordinal) && l.Contains(bad, StringComparison.Ordinal)), all);
        }
        finally
        {
            if (Directory.Exists(dir)) Directory.Delete(dir, true);
        }
    }

    [TestMethod]
    public void PredictProbabilitiesAgreesWithValidation()
    {
        using var model = NewModel();
        var result = new TrainingEngine(Base with { MaxEpoch = 1 }).Fit(model, Train, Validation, TrainPipeline, EvalPipeline);
        model.Train();
        var probs = TrainingEngine.PredictProbabilities(model, Validation, EvalPipeline, batchSize: 50, Device.Cpu, workers: 2);
        Assert.IsTrue(model.IsTraining, "the training mode is restored");
        Assert.HasCount(Validation.Count * 10, probs);
        for (int r = 0; r < Validation.Count; r++)
            Assert.AreEqual(1.0, probs.AsSpan(r * 10, 10).ToArray().Sum(), 1e-5);

        var labels = Validation.Select(s => s.Label).ToArray();
        var metrics = MulticlassEvaluator.Evaluate(probs, labels, 10, classNames: Validation.ClassNames);
        var last = result.History[^1];
        Assert.AreEqual(last.ValidationAccuracy!.Value, metrics.MicroAccuracy, 1.5 / Validation.Count);
        Assert.AreEqual(last.ValidationLoss!.Value, metrics.LogLoss, 1e-4);

        // Dataset order: the rows of a reversed subset are the same rows, reversed.
        var reversed = Validation.Subset(Enumerable.Range(0, 20).Reverse());
        var probsReversed = TrainingEngine.PredictProbabilities(model, reversed, EvalPipeline, batchSize: 7, Device.Cpu);
        for (int r = 0; r < 20; r++)
            for (int c = 0; c < 10; c++)
                Assert.AreEqual(probs[(19 - r) * 10 + c], probsReversed[r * 10 + c], 1e-5f);
    }

    [TestMethod]
    public void ArgumentsAreChecked()
    {
        using var model = NewModel();
        var noValidation = Assert.Throws<ArgumentException>(() =>
            new TrainingEngine(Base with { EarlyStoppingPatience = 2 }).Fit(model, Train, null, TrainPipeline, EvalPipeline));
        StringAssert.Contains(noValidation.Message, "EarlyStoppingPatience needs a validation set");

        using var five = NewModel(classes: 5);
        var outputs = Assert.Throws<ArgumentException>(() =>
            new TrainingEngine(Base with { MaxEpoch = 1 }).Fit(five, Train, null, TrainPipeline, EvalPipeline));
        StringAssert.Contains(outputs.Message, "10 classes");

        var otherClasses = new ImageDataset(Validation.Take(10), Enumerable.Range(0, 10).Select(i => $"c{i}").ToArray());
        Assert.Throws<ArgumentException>(() => new TrainingEngine(Base).Fit(model, Train, otherClasses, TrainPipeline, EvalPipeline));

        model.RequiresGrad(false);
        var frozen = Assert.Throws<ArgumentException>(() => new TrainingEngine(Base).Fit(model, Train, null, TrainPipeline, EvalPipeline));
        StringAssert.Contains(frozen.Message, "no trainable parameters");
    }

    [TestMethod]
    [DataRow("resnet18")]
    [DataRow("mobilenetv2_ca")]
    [DataRow("mobilevitv2_050")]
    [DataRow("c2f_cls_n")]
    [DataRow("attention56")]
    public void ImageChannelsComeFromTheStemConvolution(string arch)
    {
        foreach (int channels in new[] { 1, 3 })
        {
            using var model = MLNet.Attention.Backbones.Models.ModelRegistry.Create(arch,
                new MLNet.Attention.Backbones.Models.BackboneOptions(NumClasses: 4, InChannels: channels, SmallImage: true, WidthMultiplier: 0.25));
            Assert.AreEqual(channels, TrainingEngine.InputChannels(model));
        }
        var noConv = Assert.Throws<ArgumentException>(() => TrainingEngine.InputChannels(new Linear(4, 2)));
        StringAssert.Contains(noConv.Message, "ImageChannels");
    }

    private static void AssertSameTrajectory(IReadOnlyList<EpochMetrics> expected, IReadOnlyList<EpochMetrics> actual)
    {
        Assert.HasCount(expected.Count, actual);
        for (int i = 0; i < expected.Count; i++)
        {
            Assert.AreEqual(expected[i].Epoch, actual[i].Epoch);
            Assert.AreEqual(expected[i].TrainLoss, actual[i].TrainLoss, $"epoch {i + 1} train loss");
            Assert.AreEqual(expected[i].TrainAccuracy, actual[i].TrainAccuracy);
            Assert.AreEqual(expected[i].ValidationLoss, actual[i].ValidationLoss);
            Assert.AreEqual(expected[i].ValidationAccuracy, actual[i].ValidationAccuracy);
            Assert.AreEqual(expected[i].LearningRate, actual[i].LearningRate);
        }
    }
}
