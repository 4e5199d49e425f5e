#!/usr/bin/python3
"""The Python side of the image benchmark: decode + resize + normalize throughput of torchvision on the same files,
in one process (no DataLoader workers), batches of --batch stacked into one tensor as DataLoader's collate does.

  pil:    Image.open().convert("RGB") -> T.Resize((S, S)) (Pillow bilinear) -> T.ToTensor() -> T.Normalize(ImageNet)
          (the classic ImageFolder recipe)
  tensor: torchvision.io.decode_image(RGB) -> F.resize([S, S], antialias=True) -> /255 -> F.normalize(ImageNet)
          (the tensor path; the same arithmetic as MLNet.Attention's ResizeImages)

Prints one JSON line per (set, pipeline): {"set", "pipeline", "images", "seconds", "images_per_s"} (best of --repeat).
"""
import argparse
import json
import os
import time

import torch
import torchvision.io as tio
import torchvision.transforms as T
import torchvision.transforms.functional as F
from PIL import Image

ap = argparse.ArgumentParser()
ap.add_argument("folder")
ap.add_argument("--sets", default="fmnist_jpg,fmnist_png,photo_jpg,photo_png")
ap.add_argument("--size", type=int, default=224)
ap.add_argument("--batch", type=int, default=64)
ap.add_argument("--repeat", type=int, default=3)
ap.add_argument("--pipelines", default="pil,tensor")
args = ap.parse_args()

MEAN, STD = [0.485, 0.456, 0.406], [0.229, 0.224, 0.225]
pil_tf = T.Compose([T.Resize((args.size, args.size)), T.ToTensor(), T.Normalize(MEAN, STD)])


def pil_one(path):
    with Image.open(path) as im:
        return pil_tf(im.convert("RGB"))


def tensor_one(path):
    x = tio.decode_image(tio.read_file(path), mode=tio.ImageReadMode.RGB)
    x = F.resize(x, [args.size, args.size], antialias=True)
    return F.normalize(x.float().div_(255), MEAN, STD)


def run(files, fn):
    n = 0
    for i in range(0, len(files), args.batch):
        batch = torch.stack([fn(p) for p in files[i:i + args.batch]])
        n += batch.shape[0]
    return n


for s in args.sets.split(","):
    folder = os.path.join(args.folder, s)
    files = sorted(os.path.join(folder, f) for f in os.listdir(folder))
    for name in args.pipelines.split(","):
        fn = pil_one if name == "pil" else tensor_one
        run(files[:32], fn)  # warm-up
        best = None
        for _ in range(args.repeat):
            t0 = time.perf_counter()
            n = run(files, fn)
            dt = time.perf_counter() - t0
            best = dt if best is None else min(best, dt)
        print(json.dumps({"set": s, "pipeline": name, "images": n, "seconds": round(best, 4),
                          "images_per_s": round(n / best, 1), "torch_threads": torch.get_num_threads()}), flush=True)
