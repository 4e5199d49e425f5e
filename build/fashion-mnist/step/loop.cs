#!/usr/bin/env -S dotnet run
// The Fashion-MNIST recipe's training step without the pipeline: EPSANet-14 (width 0.5, stem stride 2, channels-last),
// 100 batches of 128 real images, SGD Nesterov with one-cycle to 0.1, label smoothing 0.1, 2 threads. loop.py is the
// same loop in PyTorch; run.sh alternates them. Prints the step-time percentiles (after 10 warm-up steps) and images/s.
#:project ../../../src/Trainers/MLNet.Attention.Trainers.csproj
#:property Configuration=Release
#:property PublishAot=false
using System.Diagnostics;
using MLNet.Attention.Torch;
using MLNet.Attention.Torch.Optim;
using MLNet.Attention.Transforms;
using MLNet.Attention.Backbones;
using MLNet.Attention.Backbones.Models;
using F = MLNet.Attention.Torch.Functional;

TorchRuntime.NumThreads = 2;
TorchRuntime.ManualSeed(1);
var ds = IdxDataset.FashionMnist(true);
var model = ModelRegistry.Create("epsanet14", new BackboneOptions(10, 1, true, 0.5) { StemStride = 2 });
model.ToMemoryFormat(MemoryFormat.ChannelsLast);
model.Train();
var opt = new SGD(model.Parameters().ToList(), 0.1, momentum: 0.9, weightDecay: 5e-4, nesterov: true);
var sched = new OneCycleLR(opt, 0.1, 100);
var rng = new Random(1);
var perm = Enumerable.Range(0, 12800).OrderBy(_ => rng.Next()).ToArray();
var times = new List<double>();
var total = Stopwatch.StartNew();
for (int b = 0; b < 100; b++)
{
    var sw = Stopwatch.StartNew();
    using var scope = Tensor.NewDisposeScope();
    var px = new float[128 * 784]; var lb = new long[128];
    for (int k = 0; k < 128; k++)
    {
        int i = perm[b * 128 + k];
        for (int p = 0; p < 784; p++) px[k * 784 + p] = (ds.Images[i * 784 + p] / 255f - 0.2860f) / 0.3530f;
        lb[k] = ds.Labels[i];
    }
    var x = Tensor.FromArray(px).Reshape(128, 1, 28, 28).Contiguous(MemoryFormat.ChannelsLast);
    var y = Tensor.FromArray(lb);
    var loss = F.CrossEntropy(model.Forward(x), y, labelSmoothing: 0.1);
    opt.ZeroGrad();
    loss.Backward();
    opt.Step();
    sched.Step();
    times.Add(sw.Elapsed.TotalMilliseconds);
}
var last = times.Skip(50).OrderBy(t => t).ToList();
var all = times.Skip(10).OrderBy(t => t).ToList(); Console.WriteLine(string.Join(" ", new[]{0,10,25,50,75,90,100}.Select(p => all[Math.Min(all.Count-1, p * all.Count / 100)].ToString("F0"))));
Console.WriteLine($"C# real loop: {12800 / total.Elapsed.TotalSeconds:F0} img/s; first10 {times.Take(10).Average():F0} ms, last50 median {last[25]:F0} ms");
