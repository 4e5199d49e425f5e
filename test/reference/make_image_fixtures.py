#!/usr/bin/python3
"""Writes test/fixtures/images/: small encoded images in every format and variant the decoder reads (made with
Pillow, Debian python3-pil), a few in formats it refuses, and reference.safetensors holding what Pillow decodes
from them and what torchvision 0.14 (Debian python3-torchvision) computes for the image transforms.

reference.safetensors holds
  decode/<file>            uint8 HWC pixels as Pillow decodes <file> (16-bit samples: their high byte;
                           EXIF-oriented JPEGs: after ImageOps.exif_transpose)
  resize/<case>/x          uint8 (or float32) CHW input,   resize/<case>/y  F.resize(x, [h, w], antialias=True)
  crop/<case>/y            F.resized_crop / F.center_crop of resize/src/x with the box in the metadata
  gray/y                   F.rgb_to_grayscale(x) (uint8, truncating as torchvision does)
  jitter/<fn>_<f>/y        F.adjust_brightness/contrast/saturation/hue(x, f)
  normalize/x, normalize/y F.normalize(x, ImageNet mean, std) on a float image in [0, 1]
The metadata entry "cases" lists every case with its parameters (JSON).

Run: /usr/bin/python3 test/reference/make_image_fixtures.py
"""
import io
import json
import os
import struct
import sys
import zlib

import numpy as np
import torch
import torchvision.transforms.functional as F
from PIL import Image, ImageOps

sys.path.insert(0, os.path.dirname(__file__))
from safetensors_io import save  # noqa: E402

ROOT = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "fixtures", "images")
os.makedirs(ROOT, exist_ok=True)
rng = np.random.default_rng(20240605)
tensors = {}
cases = {}


def photo(w, h, seed):
    """A smooth colour image with edges and a little noise: resizing it exercises every filter tap."""
    r = np.random.default_rng(seed)
    yy, xx = np.mgrid[0:h, 0:w].astype(np.float64)
    img = np.stack([
        128 + 100 * np.sin(xx / (w / 3.0) + 0.3) * np.cos(yy / (h / 2.0)),
        60 + 180 * (xx / w) * (yy / h),
        200 - 150 * ((xx - w / 2) ** 2 + (yy - h / 2) ** 2) / (w * w / 4 + h * h / 4),
    ], axis=-1)
    img[h // 3: h // 3 + 3, :, :] = [250, 20, 30]          # a hard horizontal edge
    img[:, w // 4: w // 4 + 2, :] = [10, 240, 60]          # and a vertical one
    img += r.normal(0, 6, img.shape)
    return np.clip(np.rint(img), 0, 255).astype(np.uint8)


def write(name, data):
    with open(os.path.join(ROOT, name), "wb") as f:
        f.write(data)


def pil_bytes(im, fmt, **kw):
    b = io.BytesIO()
    im.save(b, fmt, **kw)
    return b.getvalue()


def png_raw(arr, bit_depth, color_type):
    """A PNG written by hand (Pillow cannot write 16-bit RGB): filter 0 on every row."""
    h, w = arr.shape[:2]
    if bit_depth == 16:
        rows = arr.astype(">u2").reshape(h, -1).view(np.uint8)
    else:
        rows = arr.reshape(h, -1)
    raw = b"".join(b"\x00" + rows[i].tobytes() for i in range(h))

    def chunk(t, d):
        return struct.pack(">I", len(d)) + t + d + struct.pack(">I", zlib.crc32(t + d) & 0xFFFFFFFF)
    return (b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", struct.pack(">IIBBBBB", w, h, bit_depth, color_type, 0, 0, 0)) +
            chunk(b"IDAT", zlib.compress(raw, 9)) + chunk(b"IEND", b""))


def decoded(name, arr):
    arr = np.asarray(arr)
    if arr.ndim == 2:
        arr = arr[:, :, None]
    tensors[f"decode/{name}"] = torch.from_numpy(np.ascontiguousarray(arr.astype(np.uint8)))


# ---------------------------------------------------------------- encoded images (decoder tests)
base = photo(37, 29, 1)
rgb = Image.fromarray(base, "RGB")
alpha = np.clip(np.arange(37)[None, :] * 7 + np.arange(29)[:, None] * 3, 0, 255).astype(np.uint8)
rgba = Image.fromarray(np.dstack([base, alpha]), "RGBA")
gray = rgb.convert("L")
la = Image.fromarray(np.dstack([np.asarray(gray), alpha]), "LA")
pal = rgb.quantize(colors=16, method=Image.Quantize.MEDIANCUT)

files = {
    "rgb.png": pil_bytes(rgb, "PNG"),
    "rgba.png": pil_bytes(rgba, "PNG"),
    "gray.png": pil_bytes(gray, "PNG"),
    "gray_alpha.png": pil_bytes(la, "PNG"),
    "palette.png": pil_bytes(pal, "PNG"),
    "bilevel.png": pil_bytes(gray.point(lambda v: 255 if v > 120 else 0).convert("1"), "PNG"),
    "interlaced.png": None,  # below
    "baseline.jpg": pil_bytes(rgb, "JPEG", quality=92),
    "progressive.jpg": pil_bytes(rgb, "JPEG", quality=92, progressive=True),
    "gray.jpg": pil_bytes(gray, "JPEG", quality=92),
    "rgb.bmp": pil_bytes(rgb, "BMP"),
    "gray.bmp": pil_bytes(gray, "BMP"),
    "rgb.tga": pil_bytes(rgb, "TGA"),
    "rgb_rle.tga": pil_bytes(rgb, "TGA", compression="tga_rle"),
    "rgb.ppm": pil_bytes(rgb, "PPM"),
    "gray.pgm": pil_bytes(gray, "PPM"),
}
# Interlaced PNG (Adam7) by hand is long; Pillow does not write it either: a palette PNG with tRNS instead.
pal_t = pal.copy()
pal_t.info["transparency"] = 0
files["interlaced.png"] = None
del files["interlaced.png"]
files["palette_trns.png"] = pil_bytes(pal_t, "PNG", transparency=0)
# 16-bit PNGs: the decoder keeps the high byte of every sample.
rgb16 = (base.astype(np.uint16) * 257 + rng.integers(0, 256, base.shape)).astype(np.uint16)
gray16 = (np.asarray(gray).astype(np.uint16) * 257 + rng.integers(0, 256, (29, 37))).astype(np.uint16)
files["rgb16.png"] = png_raw(rgb16, 16, 2)
files["gray16.png"] = png_raw(gray16, 16, 0)
# An animated GIF: the decoder returns the first frame.
f1 = rgb.quantize(colors=32)
f2 = Image.fromarray(255 - base, "RGB").quantize(colors=32)
b = io.BytesIO()
f1.save(b, "GIF", save_all=True, append_images=[f2], duration=100, loop=0)
files["animated.gif"] = b.getvalue()

for name, data in files.items():
    write(name, data)
    im = Image.open(io.BytesIO(data))
    im.seek(0)
    if name == "rgb16.png":
        decoded(name, rgb16 >> 8)
    elif name == "gray16.png":
        decoded(name, gray16 >> 8)
    elif im.mode in ("RGBA", "LA", "RGB", "L"):
        decoded(name, np.asarray(im))
    elif im.mode == "1":
        decoded(name, np.asarray(im.convert("L")))
    elif im.mode == "P":
        decoded(name, np.asarray(im.convert("RGBA" if "transparency" in im.info else "RGB")))
    else:
        raise SystemExit(f"{name}: unexpected mode {im.mode}")

# EXIF orientation 1..8 on an asymmetric 24x16 image: reference is Pillow's exif_transpose.
quad = np.zeros((16, 24, 3), np.uint8)
quad[:8, :12] = [230, 30, 30]
quad[:8, 12:] = [30, 230, 30]
quad[8:, :12] = [30, 30, 230]
quad[8:, 12:] = [230, 230, 30]
quad[:3, :3] = [255, 255, 255]
qim = Image.fromarray(quad, "RGB")
for o in range(1, 9):
    exif = Image.Exif()
    exif[0x0112] = o
    data = pil_bytes(qim, "JPEG", quality=95, exif=exif.tobytes())
    name = f"exif_{o}.jpg"
    write(name, data)
    decoded(name, np.asarray(ImageOps.exif_transpose(Image.open(io.BytesIO(data))).convert("RGB")))

# Formats the decoder refuses (real files): TIFF and WebP.
write("unsupported.tiff", pil_bytes(rgb, "TIFF"))
write("unsupported.webp", pil_bytes(rgb, "WEBP", quality=80))

# ---------------------------------------------------------------- resize parity (torchvision F.resize, antialias)
src = torch.from_numpy(photo(53, 41, 2)).permute(2, 0, 1).contiguous()          # 3x41x53 uint8
big = torch.from_numpy(photo(211, 157, 3)).permute(2, 0, 1).contiguous()        # 3x157x211 uint8
tensors["resize/src/x"] = src
tensors["resize/big/x"] = big
resize_cases = [
    ("down", "src", 19, 24), ("down_odd", "src", 13, 31), ("up", "src", 70, 97), ("mixed", "src", 60, 20),
    ("same", "src", 41, 53), ("big_down", "big", 37, 49), ("big_down_224", "big", 100, 224), ("big_thumb", "big", 7, 9),
]
for name, inp, h, w in resize_cases:
    x = tensors[f"resize/{inp}/x"]
    tensors[f"resize/{name}/y"] = F.resize(x, [h, w], antialias=True)
    cases[f"resize/{name}"] = {"input": inp, "height": h, "width": w}
gsrc = F.rgb_to_grayscale(src)
tensors["resize/gray/x"] = gsrc
tensors["resize/gray/y"] = F.resize(gsrc, [17, 29], antialias=True)
cases["resize/gray"] = {"input": "gray", "height": 17, "width": 29}
fsrc = torch.from_numpy(rng.random((3, 23, 31), dtype=np.float32))
tensors["resize/float/x"] = fsrc
tensors["resize/float/y"] = F.resize(fsrc, [11, 40], antialias=True)
cases["resize/float"] = {"input": "float", "height": 11, "width": 40}
# torchvision's Resize(int): the shorter side becomes int, the longer int(int * long / short).
tensors["resize/shorter/y"] = F.resize(big, 64, antialias=True)
cases["resize/shorter"] = {"input": "big", "size": 64}

# ---------------------------------------------------------------- crops
for name, (top, left, h, w, oh, ow) in {
    "resized_crop": (5, 7, 30, 40, 24, 24),
    "resized_crop_up": (10, 3, 12, 9, 32, 28),
}.items():
    tensors[f"crop/{name}/y"] = F.resized_crop(src, top, left, h, w, [oh, ow], antialias=True)
    cases[f"crop/{name}"] = {"top": top, "left": left, "height": h, "width": w, "out_height": oh, "out_width": ow}
for name, (h, w) in {"center": (20, 31), "center_odd": (17, 18), "center_pad": (50, 60)}.items():
    tensors[f"crop/{name}/y"] = F.center_crop(src, [h, w])
    cases[f"crop/{name}"] = {"height": h, "width": w}

# ---------------------------------------------------------------- colour
tensors["gray/y"] = F.rgb_to_grayscale(src)
for fn, factors in {"brightness": [0.0, 0.6, 1.4], "contrast": [0.5, 1.7], "saturation": [0.0, 0.4, 1.8],
                    "hue": [-0.3, 0.1, 0.45]}.items():
    for f in factors:
        y = getattr(F, f"adjust_{fn}")(src, f)
        tensors[f"jitter/{fn}_{f}/y"] = y
        cases[f"jitter/{fn}_{f}"] = {"fn": fn, "factor": f}

# ---------------------------------------------------------------- normalize
nx = src.float() / 255
tensors["normalize/x"] = nx
tensors["normalize/y"] = F.normalize(nx, [0.485, 0.456, 0.406], [0.229, 0.224, 0.225])

save(os.path.join(ROOT, "reference.safetensors"), tensors, {"cases": json.dumps(cases)})
total = sum(os.path.getsize(os.path.join(ROOT, f)) for f in os.listdir(ROOT))
print(f"wrote {len(os.listdir(ROOT))} files, {total / 1024:.0f} KiB, {len(tensors)} tensors to {ROOT}")
