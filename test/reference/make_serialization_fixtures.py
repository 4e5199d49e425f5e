#!/usr/bin/python3
"""Writes the weights I/O fixtures under test/fixtures/serialization/.

Run with the system interpreter that has torch 1.13:

    /usr/bin/python3 test/reference/make_serialization_fixtures.py

The output is deterministic (fixed seed, fixed insertion order), so re-running it
rewrites byte-identical files. The C# tests read:

  bare_state_dict.pth     torch.save(state_dict) of a tiny Conv2d/BatchNorm2d/Linear net
  wrapped_state_dict.pth  {"state_dict": <same, keys prefixed "module.">, "epoch", "best_acc",
                           "arch", "args" (an argparse.Namespace: an opaque global)}
  dtypes.pth              one tensor per dtype plus non-contiguous, shared-storage, expanded,
                          0-d, empty tensors and an nn.Parameter
  expected.safetensors    every tensor above, made contiguous, under the prefixes "bare.",
                          "wrapped." (keys without "module.") and "dtypes.", written by the
                          minimal safetensors writer below (the `safetensors` package is not
                          needed)
"""

import argparse
import collections
import json
import os
import struct

import torch
from torch import nn

HERE = os.path.dirname(os.path.abspath(__file__))
OUT = os.path.normpath(os.path.join(HERE, "..", "fixtures", "serialization"))

SAFETENSORS_DTYPES = {
    torch.float64: "F64",
    torch.float32: "F32",
    torch.float16: "F16",
    torch.bfloat16: "BF16",
    torch.int64: "I64",
    torch.int32: "I32",
    torch.int16: "I16",
    torch.int8: "I8",
    torch.uint8: "U8",
    torch.bool: "BOOL",
}


class Tiny(nn.Module):
    def __init__(self):
        super().__init__()
        self.conv = nn.Conv2d(3, 4, 3, bias=True)
        self.bn = nn.BatchNorm2d(4)
        self.fc = nn.Linear(4, 2)

    def forward(self, x):
        x = self.bn(self.conv(x)).relu().mean(dim=(2, 3))
        return self.fc(x)


def tensor_bytes(t):
    """Contiguous little-endian bytes of a tensor, row-major."""
    t = t.detach().contiguous()
    if t.dtype == torch.bfloat16:
        t = t.view(torch.int16)
    return t.numpy().tobytes()


def write_safetensors(path, tensors, metadata=None):
    """A minimal safetensors writer: 8-byte LE header size, JSON header padded with
    spaces to a multiple of 8, then the tensors' bytes in the given order."""
    header = collections.OrderedDict()
    if metadata:
        header["__metadata__"] = metadata
    blobs = []
    offset = 0
    for name, t in tensors:
        data = tensor_bytes(t)
        header[name] = {
            "dtype": SAFETENSORS_DTYPES[t.dtype],
            "shape": list(t.shape),
            "data_offsets": [offset, offset + len(data)],
        }
        blobs.append(data)
        offset += len(data)
    text = json.dumps(header, separators=(",", ":")).encode("utf-8")
    text += b" " * (-len(text) % 8)
    with open(path, "wb") as f:
        f.write(struct.pack("<Q", len(text)))
        f.write(text)
        for b in blobs:
            f.write(b)


def main():
    os.makedirs(OUT, exist_ok=True)
    torch.manual_seed(0)

    # A tiny net after one forward pass in train mode: running stats are non-trivial
    # and num_batches_tracked (int64) is 1.
    net = Tiny()
    net.train()
    with torch.no_grad():
        net(torch.randn(2, 3, 5, 5))
    bare = net.state_dict()  # an OrderedDict carrying a _metadata attribute
    torch.save(bare, os.path.join(OUT, "bare_state_dict.pth"))

    wrapped_sd = collections.OrderedDict(("module." + k, v) for k, v in bare.items())
    wrapped_sd._metadata = collections.OrderedDict(
        (("module." + k) if k else "module", v) for k, v in bare._metadata.items())
    wrapped = {
        "state_dict": wrapped_sd,
        "epoch": 7,
        "best_acc": 0.5,
        "arch": "tiny",
        "args": argparse.Namespace(lr=0.1, arch="tiny"),
    }
    torch.save(wrapped, os.path.join(OUT, "wrapped_state_dict.pth"))

    base = torch.randn(4, 6)
    dtypes = collections.OrderedDict()
    dtypes["f16"] = torch.randn(2, 3).half()
    dtypes["bf16"] = torch.randn(2, 3).bfloat16()
    dtypes["f32"] = torch.randn(3, 2)
    dtypes["f64"] = torch.randn(3, dtype=torch.float64)
    dtypes["i64"] = torch.tensor([-3, 0, 2 ** 40, -(2 ** 62)], dtype=torch.int64)
    dtypes["i32"] = torch.tensor([[1, -2], [2 ** 31 - 1, -(2 ** 31)]], dtype=torch.int32)
    dtypes["i16"] = torch.tensor([-32768, 7, 32767], dtype=torch.int16)
    dtypes["i8"] = torch.tensor([-128, -1, 127], dtype=torch.int8)
    dtypes["u8"] = torch.arange(250, 256).to(torch.uint8)
    dtypes["bool"] = torch.tensor([True, False, True, True])
    dtypes["transposed"] = torch.randn(3, 4).t()  # shape (4, 3), stride (1, 4)
    dtypes["half_transposed"] = torch.randn(2, 5).half().t()
    dtypes["shared_base"] = base  # the next three views share base's storage
    dtypes["shared_rows"] = base[1:]  # storage offset 6
    dtypes["shared_cols"] = base[:, ::2]  # stride (6, 2)
    dtypes["shared_elem"] = base[2, 3]  # 0-d view at offset 15
    dtypes["expanded"] = torch.randn(3, 1).expand(3, 4)  # stride (1, 0)
    dtypes["scalar"] = torch.tensor(3.5)
    dtypes["empty"] = torch.empty(0, 3)
    dtypes["param"] = nn.Parameter(torch.randn(2, 2))
    torch.save(dtypes, os.path.join(OUT, "dtypes.pth"))

    expected = []
    expected += [("bare." + k, v) for k, v in bare.items()]
    expected += [("wrapped." + k[len("module."):], v) for k, v in wrapped_sd.items()]
    expected += [("dtypes." + k, v) for k, v in dtypes.items()]
    write_safetensors(os.path.join(OUT, "expected.safetensors"), expected,
                      metadata={"format": "pt", "source": "make_serialization_fixtures.py"})

    for name in sorted(os.listdir(OUT)):
        print(f"{name}: {os.path.getsize(os.path.join(OUT, name))} bytes")


if __name__ == "__main__":
    main()
