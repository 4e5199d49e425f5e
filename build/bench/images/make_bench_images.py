#!/usr/bin/python3
"""Writes the benchmark's image folder (real files, made with Pillow): one subfolder per kind of image.

  fmnist_jpg/  Fashion-MNIST training images upscaled 28 -> 112 (bicubic), gray JPEG, quality 90
  fmnist_png/  the same images as 8-bit gray PNG
  photo_jpg/   synthetic photo-like RGB images, 500 x 375 (ImageNet's typical size), JPEG quality 90, 4:2:0
  photo_png/   synthetic photo-like RGB images, 320 x 240, PNG

Run: /usr/bin/python3 build/bench/images/make_bench_images.py OUT_FOLDER [--scale 1.0]
"""
import argparse
import gzip
import os

import numpy as np
from PIL import Image

ap = argparse.ArgumentParser()
ap.add_argument("out")
ap.add_argument("--scale", type=float, default=1.0, help="multiplies every count")
ap.add_argument("--fmnist", default="/usr/share/datasets/fashion-mnist/train-images-idx3-ubyte.gz")
args = ap.parse_args()
counts = {k: max(1, int(v * args.scale)) for k, v in {"fmnist": 1000, "photo_jpg": 500, "photo_png": 300}.items()}

with gzip.open(args.fmnist, "rb") as f:
    data = f.read()
fm = np.frombuffer(data, np.uint8, offset=16).reshape(-1, 28, 28)


def photo(w, h, seed):
    """Smooth colour fields at several scales, a few hard-edged shapes and sensor-like noise."""
    r = np.random.default_rng(seed)
    img = np.zeros((h, w, 3), np.float32)
    for cells, amp in ((3, 90), (9, 45), (27, 20), (81, 8)):
        small = r.normal(0, 1, (max(2, cells * h // w), cells, 3)).astype(np.float32)
        for c in range(3):
            img[:, :, c] += amp * np.asarray(Image.fromarray(small[:, :, c], "F").resize((w, h), Image.BICUBIC))
    img += 128
    for _ in range(6):
        x0, y0 = r.integers(0, w - 40), r.integers(0, h - 40)
        img[y0:y0 + r.integers(20, 120), x0:x0 + r.integers(20, 160)] = r.integers(0, 256, 3)
    img += r.normal(0, 4, img.shape)
    return Image.fromarray(np.clip(img, 0, 255).astype(np.uint8), "RGB")


for sub in ("fmnist_jpg", "fmnist_png", "photo_jpg", "photo_png"):
    os.makedirs(os.path.join(args.out, sub), exist_ok=True)
for i in range(counts["fmnist"]):
    im = Image.fromarray(fm[i], "L").resize((112, 112), Image.BICUBIC)
    im.save(os.path.join(args.out, "fmnist_jpg", f"{i:05d}.jpg"), quality=90)
    im.save(os.path.join(args.out, "fmnist_png", f"{i:05d}.png"))
for i in range(counts["photo_jpg"]):
    photo(500, 375, i).save(os.path.join(args.out, "photo_jpg", f"{i:05d}.jpg"), quality=90)
for i in range(counts["photo_png"]):
    photo(320, 240, 10_000 + i).save(os.path.join(args.out, "photo_png", f"{i:05d}.png"))
total = sum(len(os.listdir(os.path.join(args.out, s))) for s in os.listdir(args.out))
size = sum(os.path.getsize(os.path.join(args.out, s, f)) for s in os.listdir(args.out) for f in os.listdir(os.path.join(args.out, s)))
print(f"wrote {total} images ({size / 2**20:.1f} MiB) to {args.out}")
