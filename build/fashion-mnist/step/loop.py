"""The Fashion-MNIST recipe's training step without the pipeline, in PyTorch (loop.cs is the same in C#): EPSANet-14
(width 0.5, stem stride 2, channels-last), 100 batches of 128 real images, SGD Nesterov with one-cycle to 0.1, label
smoothing 0.1, 2 threads. Variant (argv[1], default vary_sched): "fixed" reuses one batch, "randn" feeds random
inputs, without "sched" the learning rate stays 0.1. FTZ=1 flushes denormals."""
import importlib.util
import os
import sys
import time

import torch
import torch.nn.functional as F
spec = importlib.util.spec_from_file_location("recipe", os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "recipe.py"))
rec = importlib.util.module_from_spec(spec); spec.loader.exec_module(rec)
torch.set_num_threads(2); torch.manual_seed(1)
if os.environ.get("FTZ"): torch.set_flush_denormal(True)
model = rec.build("epsanet14", 0.5, 2).to(memory_format=torch.channels_last)
xtr = torch.from_numpy(rec.idx("train-images-idx3-ubyte.gz").copy()).unsqueeze(1)[:12800]
import numpy as np
ytr = torch.from_numpy(rec.idx("train-labels-idx1-ubyte.gz").astype(np.int64))[:12800]
variant = sys.argv[1] if len(sys.argv) > 1 else "vary_sched"
lr = 0.1
opt = torch.optim.SGD(model.parameters(), lr=lr, momentum=0.9, nesterov=True, weight_decay=5e-4)
sched = torch.optim.lr_scheduler.OneCycleLR(opt, max_lr=lr, total_steps=100) if "sched" in variant else None
gen = torch.Generator().manual_seed(1)
perm = torch.randperm(len(xtr), generator=gen)
model.train()
t0 = time.time(); times=[]
for b in range(100):
    i = perm[b * 128:(b + 1) * 128] if "vary" in variant else perm[:128]
    t = time.perf_counter()
    xin = rec.to_input(xtr[i], True) if "randn" not in variant else torch.randn(128,1,28,28).contiguous(memory_format=torch.channels_last)
    logits = model(xin)
    loss = F.cross_entropy(logits, ytr[i], label_smoothing=0.1)
    opt.zero_grad(set_to_none=True)
    loss.backward()
    opt.step()
    if sched: sched.step()
    times.append(time.perf_counter() - t)
al = sorted(times[10:]); print(" ".join(f"{1000*al[min(len(al)-1, p*len(al)//100)]:.0f}" for p in (0,10,25,50,75,90,100)))
print(variant, f"{128*100/(time.time()-t0):.0f} img/s; first10 {1000*sum(times[:10])/10:.0f} ms, last50 {1000*sorted(times[50:])[25]:.0f} ms median")
