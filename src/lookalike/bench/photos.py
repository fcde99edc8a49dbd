"""A standard set of benchmark photos, made at run time from the data folder (never stored in the repo).

* **synthetic**: LFW people (face, hair, shoulders) pasted at known sizes — faces from 40 px to nearly
  the frame's height — on phone-sized canvases of 1, 12 and 24 MP over a textured background (smooth
  random colour fields plus grain: no faces in it, and not flat so detectors see clutter).  The
  manifest holds every pasted face's box, so recall is measured against ground truth.
* **small faces**: 12 MP canvases each filled with ~200 LFW people whose faces are all 40, 44 or 48 px:
  recall at the smallest size the detector is built for.
* **detect**: dlib's detection examples with their ground-truth boxes, as they are and tiled at
  native size into a 12 MP canvas (hundreds of 37–91 px faces in one phone-sized photo).
* **group**: the group photos as they are (no ground truth; compared with face_recognition).

Everything is seeded: the same data folder and seed give byte-identical files and manifest.
"""

from __future__ import annotations

import json
import math
import xml.etree.ElementTree as ET
from dataclasses import dataclass
from pathlib import Path

import numpy as np
from PIL import Image, ImageFilter

from lookalike.documents import to_json

#: Phone-sized canvases (4:3) and the face sizes pasted on each (px, the face box's side).
CANVASES: dict[str, tuple[int, int]] = {"1MP": (1280, 960), "12MP": (4032, 3024), "24MP": (5664, 4248)}
FACE_SIZES: dict[str, list[list[int]]] = {
    "1MP": [[40, 48, 56, 64, 80, 100, 130], [160, 220, 300], [700]],
    "12MP": [[40, 45, 50, 60, 70, 85, 100, 120, 150, 200, 260], [340, 480, 700], [1000], [1500], [2500]],
    "24MP": [[40, 45, 50, 60, 70, 85, 100, 120, 150, 200, 260, 340], [480, 700, 1000], [1400], [2000], [3400]],
}
#: Where the face is in a deep-funneled LFW photo (median dlib HOG box on 200 photos, std ~6 px).
LFW_FACE = (67, 80, 176, 188)
#: The part of an LFW photo pasted: the face with hair and shoulders, little of the neighbours.
LFW_PERSON = (35, 20, 215, 250)
JPEG_QUALITY = 90


@dataclass(frozen=True)
class Placed:
    left: int
    top: int
    right: int
    bottom: int


def background(width: int, height: int, rng: np.random.Generator) -> Image.Image:
    """Smooth random colour blobs at two scales plus fine grain: textured, faceless."""
    out = np.zeros((height, width, 3), np.float32)
    for cells, weight in ((6, 0.6), (40, 0.3)):
        ch = max(2, round(cells * height / width))
        field = rng.uniform(0, 255, (ch, cells, 3)).astype(np.uint8)
        out += weight * np.asarray(Image.fromarray(field).resize((width, height), Image.Resampling.BICUBIC), np.float32)
    out += rng.normal(0, 12, (height, width, 1)).astype(np.float32)
    return Image.fromarray(np.clip(out + 25, 0, 255).astype(np.uint8))


def _people(data_dir: Path, count: int, rng: np.random.Generator) -> list[Path]:
    lfw = data_dir / "lfw"
    people = sorted(p for p in lfw.iterdir() if p.is_dir() and not p.name.startswith("_"))
    chosen = rng.choice(len(people), size=count, replace=False)
    return [sorted(people[i].glob("*.jpg"))[0] for i in chosen]


def _paste(canvas: Image.Image, photo: Path, face: int, x: int, y: int) -> Placed:
    """Paste the person so the face box is ``face`` px with its top-left at (x, y); a feathered edge."""
    fl, ft, fr, fb = LFW_FACE
    scale = face / (fr - fl)
    pl, pt, pr, pb = LFW_PERSON
    person = Image.open(photo).convert("RGB").crop(LFW_PERSON)
    size = (round((pr - pl) * scale), round((pb - pt) * scale))
    person = person.resize(size, Image.Resampling.LANCZOS if scale < 1 else Image.Resampling.BICUBIC)
    mask = Image.new("L", size, 0)
    inset = max(1, round(6 * scale))
    mask.paste(255, (inset, inset, size[0] - inset, size[1]))
    mask = mask.filter(ImageFilter.GaussianBlur(max(1, inset / 2)))
    ox, oy = x - round((fl - pl) * scale), y - round((ft - pt) * scale)
    canvas.paste(person, (ox, oy), mask)
    return Placed(x, y, x + face, y + round((fb - ft) * scale))


def _layout(width: int, height: int, faces: list[int]) -> list[tuple[int, int]] | None:
    """Face top-left corners, largest first: one face is centred (it may fill the frame), several go
    on shelves with each person's whole paste area free; None if they do not fit."""
    fl, ft, fr, fb = LFW_FACE
    pl, pt, pr, pb = LFW_PERSON
    if len(faces) == 1:
        face = faces[0]
        return [((width - face) // 2, (height - round((fb - ft) * face / (fr - fl))) // 2)]
    spots = []
    x = y = shelf = 0
    for face in sorted(faces, reverse=True):
        s = face / (fr - fl)
        w, h = math.ceil((pr - pl) * s), math.ceil((pb - pt) * s)
        if x + w > width:
            x, y, shelf = 0, y + shelf, 0
        if x + w > width or y + h > height:
            return None
        spots.append((x + round((fl - pl) * s), y + round((ft - pt) * s)))
        x, shelf = x + w, max(shelf, h)
    return spots


def synthetic(data_dir: Path, out: Path, seed: int = 0, classes: tuple[str, ...] = tuple(CANVASES)) -> list[dict]:
    """The pasted-people photos; returns their manifest entries."""
    rng = np.random.default_rng(seed)
    entries = []
    for cls in classes:
        width, height = CANVASES[cls]
        for n, faces in enumerate(FACE_SIZES[cls]):
            spots = _layout(width, height, faces)
            if spots is None:
                raise ValueError(f"faces {faces} do not fit a {width}x{height} canvas")
            canvas = background(width, height, rng)
            photos = _people(data_dir, len(faces), rng)
            boxes = [
                _paste(canvas, photo, face, x, y)
                for photo, face, (x, y) in zip(photos, sorted(faces, reverse=True), spots)
            ]
            entries.append(_saved(canvas, out / f"synthetic_{cls}_{n + 1}.jpg", "synthetic", cls, boxes, photos))
    return entries


def _saved(
    canvas: Image.Image, path: Path, kind: str, size_class: str, boxes: list[Placed], photos: list[Path]
) -> dict:
    """Save a canvas of pasted people; its manifest entry."""
    canvas.save(path, "JPEG", quality=JPEG_QUALITY)
    return {
        "file": path.name,
        "kind": kind,
        "size_class": size_class,
        "width": canvas.width,
        "height": canvas.height,
        "faces": [to_json(b) for b in boxes],
        "people": [p.parent.name for p in photos],
    }


#: Phone-sized canvases filled with faces at the smallest size the detector is built for (MIN_FACE, 40 px)
#: and a little above: recall where it is hardest, on hundreds of faces a photo.
SMALL_FACES = (40, 40, 44, 48)


def small_faces(data_dir: Path, out: Path, seed: int = 0) -> list[dict]:
    """12 MP canvases, each filled with LFW people whose faces are all one small size (``SMALL_FACES``)."""
    rng = np.random.default_rng(seed + 1)
    width, height = CANVASES["12MP"]
    entries = []
    for n, face in enumerate(SMALL_FACES):
        count = 200
        while (spots := _layout(width, height, [face] * count)) is None:
            count -= 10
        canvas = background(width, height, rng)
        photos = _people(data_dir, count, rng)
        boxes = [_paste(canvas, photo, face, x, y) for photo, (x, y) in zip(photos, spots)]
        path = out / f"small_faces_{n + 1}_{face}px.jpg"
        entries.append(_saved(canvas, path, "small_faces", "12MP small faces", boxes, photos))
    return entries


def detect_boxes(folder: Path) -> dict[str, list[dict[str, int]]]:
    """Ground-truth boxes of dlib's detection examples (``training.xml`` and ``testing.xml``)."""
    boxes: dict[str, list[dict[str, int]]] = {}
    for xml in ("training.xml", "testing.xml"):
        path = folder / xml
        if not path.is_file():
            continue
        for image in ET.parse(path).getroot().iter("image"):
            name = Path(image.get("file", "")).name
            for b in image.iter("box"):
                left, top = int(b.get("left", 0)), int(b.get("top", 0))
                w, h = int(b.get("width", 0)), int(b.get("height", 0))
                boxes.setdefault(name, []).append({"left": left, "top": top, "right": left + w, "bottom": top + h})
    return boxes


def detect_set(data_dir: Path, out: Path, tiled: tuple[int, int] = (4000, 3000)) -> list[dict]:
    """dlib's examples with ground truth as they are, and tiled at native size into one large canvas."""
    folder = data_dir / "detect" / "dlib_examples"
    truth = detect_boxes(folder)
    entries = []
    for name in sorted(truth):
        image = Image.open(folder / name)
        entries.append(
            {
                "file": f"detect_{name}",
                "kind": "detect",
                "size_class": "small",
                "width": image.width,
                "height": image.height,
                "faces": truth[name],
            }
        )
        (out / f"detect_{name}").write_bytes((folder / name).read_bytes())
    if truth:
        canvas = Image.new("RGB", tiled, (90, 90, 90))
        faces = []
        names = sorted(truth)
        x = y = row = i = 0
        while True:
            image = Image.open(folder / names[i % len(names)]).convert("RGB")
            if x + image.width > tiled[0]:
                x, y, row = 0, y + row, 0
            if y + image.height > tiled[1]:
                break
            canvas.paste(image, (x, y))
            for b in truth[names[i % len(names)]]:
                faces.append(
                    {"left": b["left"] + x, "top": b["top"] + y, "right": b["right"] + x, "bottom": b["bottom"] + y}
                )
            x, row, i = x + image.width, max(row, image.height), i + 1
        name = f"detect_tiled_{round(tiled[0] * tiled[1] / 1e6)}MP.jpg"
        canvas.save(out / name, "JPEG", quality=JPEG_QUALITY)
        entries.append(
            {
                "file": name,
                "kind": "detect",
                "size_class": "12MP",
                "width": tiled[0],
                "height": tiled[1],
                "faces": faces,
            }
        )
    return entries


def group_set(data_dir: Path, out: Path) -> list[dict]:
    """Real group photos (and the unboxed crowd photo of dlib's examples): no ground truth."""
    entries = []
    sources = sorted((data_dir / "group").glob("*.jpg"))
    crowd = data_dir / "detect" / "dlib_examples" / "bald_guys.jpg"
    if crowd.is_file():
        sources.append(crowd)
    for path in sources:
        image = Image.open(path)
        name = f"group_{path.name}"
        (out / name).write_bytes(path.read_bytes())
        entries.append(
            {
                "file": name,
                "kind": "group",
                "size_class": "group",
                "width": image.width,
                "height": image.height,
                "faces": None,
            }
        )
    return entries


def build(data_dir: Path, out: Path, seed: int = 0, classes: tuple[str, ...] = tuple(CANVASES)) -> dict:
    """Write every photo and ``manifest.json`` into ``out``; returns the manifest."""
    out.mkdir(parents=True, exist_ok=True)
    photos = synthetic(data_dir, out, seed, classes) + small_faces(data_dir, out, seed)
    photos += detect_set(data_dir, out) + group_set(data_dir, out)
    manifest = {"seed": seed, "photos": photos}
    (out / "manifest.json").write_text(json.dumps(manifest, indent=1))
    return manifest


def load(folder: Path) -> dict:
    return json.loads((folder / "manifest.json").read_text())
