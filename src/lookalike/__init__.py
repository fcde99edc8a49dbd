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

from lookalike.engine.decode import load_image
from lookalike.engine.engine import Face, FaceEngine
from lookalike.errors import GalleryError, ImageError, LookalikeError
from lookalike.gallery.search import Matcher
from lookalike.gallery.store import Gallery
from lookalike.settings import Settings

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
