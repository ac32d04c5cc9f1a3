"""The images of a folder to adapt to: found, fingerprinted, and (only to report) labelled.

A folder to adapt to holds images and, usually, no labels: ``FOLDER/images/`` if present,
else FOLDER itself, searched recursively. A ``labels.csv`` beside them is never read for
adapting; ``report_labels`` reads it after the adapted model is chosen, to say how well
the original and the adapted model read the folder.
"""

from __future__ import annotations

import hashlib
import os
from dataclasses import dataclass
from pathlib import Path

from digits.errors import DataError

# What model.reading.images (Pillow) opens; other files in the folder are not images.
IMAGE_SUFFIXES = frozenset({".png", ".jpg", ".jpeg", ".bmp", ".tif", ".tiff", ".gif",
                            ".webp", ".pgm", ".ppm", ".pbm"})


@dataclass(frozen=True)
class ImageFolder:
    """The images of a folder, in a fixed order.

    Attributes:
        root: the folder given.
        names: each image's path relative to ``root``, sorted (labels.csv's file_name).
        files: each image's path.
        sha256: the folder's fingerprint (``fingerprint``).
    """

    root: Path
    names: list[str]
    files: list[str]
    sha256: str

    def __len__(self) -> int:
        return len(self.files)

    def as_folder(self):
        """The images as a ``model.reading.folder.Folder`` without labels (empty texts),
        so that they are prepared as every folder's images are."""
        from model.reading.folder import Folder

        return Folder(self.root, list(self.names), list(self.files), [""] * len(self))


def find_images(root: Path) -> ImageFolder:
    """The images under ``root/images/`` (or ``root``), recursively, by file suffix.

    Raises:
        DataError: no such directory, or no image in it.
    """
    root = Path(root)
    if not root.is_dir():
        raise DataError(f"{root} is not a directory of images")
    base = root / "images" if (root / "images").is_dir() else root
    found = []
    for folder, dirs, files in os.walk(base, followlinks=True):
        dirs.sort()
        found += [Path(folder) / f for f in files
                  if Path(f).suffix.lower() in IMAGE_SUFFIXES and not f.startswith(".")]
    if not found:
        raise DataError(f"{base} holds no images ({', '.join(sorted(IMAGE_SUFFIXES))})")
    names = sorted(os.path.relpath(f, root) for f in found)
    files = [str(root / n) for n in names]
    return ImageFolder(root, names, files, fingerprint(names, files))


def fingerprint(names: list[str], files: list[str]) -> str:
    """sha256 over each image's name and content, in order: an adapted run names the exact
    images it adapted to, and a rerun on changed images does not resume the old run."""
    digest = hashlib.sha256()
    for name, path in zip(names, files, strict=True):
        digest.update(name.encode() + b"\0")
        try:
            with open(path, "rb") as f:
                digest.update(hashlib.file_digest(f, "sha256").digest())
        except OSError as e:  # an unreadable image still counts (model.reading skips it)
            digest.update(f"unreadable: {e.strerror}".encode())
    return digest.hexdigest()


def report_labels(images: ImageFolder) -> list[str | None] | None:
    """The labels.csv text of each image, None where not listed; None without a readable
    labels.csv. Called only to report accuracy, after the adapted model is chosen."""
    from digits.dataset import read_labels

    if not (images.root / "labels.csv").is_file():
        return None
    try:
        files, texts = read_labels(images.root)
    except DataError:
        return None
    by_name = {os.path.relpath(f, images.root): t for f, t in zip(files, texts, strict=True)}
    return [by_name.get(n) for n in images.names]
