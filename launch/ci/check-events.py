#!/usr/bin/env python3
"""Reads a run's TensorBoard event file back as TensorBoard does and checks it against the run's
metrics.jsonl and sample grids. Exits 1 naming the first difference.

- The framing: every record's length and payload carry the masked CRC-32C that tensorboard's own
  code computes.
- The scalars, through tensorboard's EventAccumulator: for every line of metrics.jsonl, every
  field but "step" that is not null, at that step, equal to the logged value rounded to float32
  (the event's simple_value); and no scalar that metrics.jsonl does not have.
- The images: tag "samples" at the steps of samples/step-N.png, with those files' PNG bytes and
  sizes.

    python launch/ci/check-events.py RUN_DIR      (a Python with the tensorboard package)
"""
import glob
import json
import os
import struct
import sys

import numpy as np
from tensorboard.backend.event_processing.event_accumulator import EventAccumulator
from tensorboard.compat.tensorflow_stub.pywrap_tensorflow import masked_crc32c


def fail(message):
    sys.exit(f"check-events: FAILED: {message}")


def check_framing(path):
    data = open(path, "rb").read()
    position = records = 0
    while position < len(data):
        if position + 12 > len(data):
            fail(f"{path}: a record header is cut off at byte {position}")
        header = data[position:position + 8]
        (length,) = struct.unpack("<Q", header)
        (header_crc,) = struct.unpack("<I", data[position + 8:position + 12])
        if header_crc != masked_crc32c(header):
            fail(f"{path}: record {records}: the length's CRC is {header_crc:#x}, expected {masked_crc32c(header):#x}")
        payload = data[position + 12:position + 12 + length]
        if len(payload) != length or position + 16 + length > len(data):
            fail(f"{path}: record {records} is cut off")
        (payload_crc,) = struct.unpack("<I", data[position + 12 + length:position + 16 + length])
        if payload_crc != masked_crc32c(payload):
            fail(f"{path}: record {records}: the payload's CRC is {payload_crc:#x}, expected {masked_crc32c(payload):#x}")
        position += 16 + length
        records += 1
    return records


def png_size(data):
    width, height = struct.unpack(">II", data[16:24])  # IHDR, right after the 8-byte signature
    return width, height


def main():
    run = sys.argv[1]
    files = glob.glob(os.path.join(run, "events.out.tfevents.*"))
    if len(files) != 1:
        fail(f"expected one event file in {run}, found {len(files)}")
    records = check_framing(files[0])

    accumulator = EventAccumulator(run, size_guidance={"scalars": 0, "images": 0})
    accumulator.Reload()
    tags = accumulator.Tags()

    expected = {}
    with open(os.path.join(run, "metrics.jsonl")) as f:
        for line in map(json.loads, f):
            for key, value in line.items():
                if key != "step" and value is not None:
                    expected[(key, line["step"])] = float(np.float32(value))
    found = {}
    for tag in tags["scalars"]:
        for event in accumulator.Scalars(tag):
            if (tag, event.step) in found:
                fail(f"scalar {tag} appears twice at step {event.step}")
            found[(tag, event.step)] = event.value
    if set(found) != set(expected):
        missing = sorted(set(expected) - set(found))[:5]
        extra = sorted(set(found) - set(expected))[:5]
        fail(f"scalars differ from metrics.jsonl: missing {missing}, not in metrics.jsonl {extra}")
    for key, value in expected.items():
        if found[key] != value:
            fail(f"scalar {key[0]} at step {key[1]} is {found[key]!r}, metrics.jsonl has {value!r}")
    for needed in ["bpd", "loss_c", "loss_q", "loss_d", "penalty", "images_per_s", "fd", "is"]:
        if needed not in tags["scalars"]:
            fail(f"no scalar {needed}")

    grids = {int(os.path.basename(p)[len("step-"):-len(".png")]): p for p in glob.glob(os.path.join(run, "samples", "step-*.png"))}
    images = accumulator.Images("samples") if "samples" in tags["images"] else []
    if sorted(image.step for image in images) != sorted(grids):
        fail(f"images at steps {sorted(image.step for image in images)}, grids at steps {sorted(grids)}")
    for image in images:
        png = open(grids[image.step], "rb").read()
        if image.encoded_image_string != png:
            fail(f"the image at step {image.step} is not the bytes of {grids[image.step]}")
        if (image.width, image.height) != png_size(png):
            fail(f"the image at step {image.step} says {image.width}x{image.height}, the PNG is {png_size(png)}")

    print(f"check-events: {records} records, {len(found)} scalars under {len(tags['scalars'])} tags "
          f"and {len(images)} images match metrics.jsonl and the grids")


if __name__ == "__main__":
    main()
