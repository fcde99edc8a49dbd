"""lookalike: which celebrities do the faces in a photo look like?

The public API in one screen::

    from lookalike import FaceEngine, Gallery, Matcher, Settings, load_image

    settings = Settings.from_env()
    engine = FaceEngine(settings)
    faces = engine.analyze(load_image(open("me.jpg", "rb").read(), settings))
    matcher = Matcher(Gallery.open(settings.gallery_path()), settings)
    for face in faces:
        print(face.box, matcher.match(face.embedding).best)
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from lookalike.engine.decode import load_image
    from lookalike.engine.engine import Face, FaceEngine
    from lookalike.errors import GalleryError, ImageError, LookalikeError
    from lookalike.gallery.search import Matcher
    from lookalike.gallery.store import Gallery
    from lookalike.settings import Settings

# Imported on first use, so that the parts that need no engine (the Lambda handlers, the CLI's help)
# load without NumPy or dlib.
_EXPORTS = {
    "Face": "lookalike.engine.engine",
    "FaceEngine": "lookalike.engine.engine",
    "Gallery": "lookalike.gallery.store",
    "GalleryError": "lookalike.errors",
    "ImageError": "lookalike.errors",
    "LookalikeError": "lookalike.errors",
    "Matcher": "lookalike.gallery.search",
    "Settings": "lookalike.settings",
    "load_image": "lookalike.engine.decode",
}


def __getattr__(name: str) -> Any:
    if name in _EXPORTS:
        return getattr(importlib.import_module(_EXPORTS[name]), name)
    raise AttributeError(f"module 'lookalike' has no attribute {name!r}")


__all__ = [
    "Face",
    "FaceEngine",
    "Gallery",
    "GalleryError",
    "ImageError",
    "LookalikeError",
    "Matcher",
    "Settings",
    "load_image",
]
__version__ = "0.1.0"
