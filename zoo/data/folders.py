"""ImageNet (ILSVRC-2012) from class folders through torchvision's ``ImageFolder``, offline only.

The root holds ``train/<wnid>/*.JPEG`` and ``val/<wnid>/*.JPEG`` (the validation images sorted into
class folders, as torchvision's reference scripts expect). Training images get torchvision's
reference augmentation (random resized crop to 224, horizontal flip); test images are resized to 256
and centre-cropped to 224. Normalisation is the model's job (``mean``/``std`` model arguments).
"""
from __future__ import annotations

import copy
from pathlib import Path

import torchvision
from torchvision import transforms

from ..errors import DatasetNotFoundError
from .roots import resolve_root

IMAGENET_LAYOUT = "train/<wnid>/*.JPEG and val/<wnid>/*.JPEG (validation images sorted into class folders)"


def imagenet_transform(train: bool, crop: int = 224, resize: int = 256):
    if train:
        return transforms.Compose([transforms.RandomResizedCrop(crop), transforms.RandomHorizontalFlip(),
                                   transforms.ToTensor()])
    return transforms.Compose([transforms.Resize(resize), transforms.CenterCrop(crop), transforms.ToTensor()])


class ImageFolderSplit(torchvision.datasets.ImageFolder):
    """One split of a class-folder dataset; ``without_augmentation()`` gives the same images with the
    test-time transform, so a hold-out taken from the training split is validated like the test set."""

    def __init__(self, folder: Path, train: bool, name: str):
        super().__init__(str(folder), transform=imagenet_transform(train))
        self.name = name

    def without_augmentation(self) -> "ImageFolderSplit":
        view = copy.copy(self)
        view.transform = imagenet_transform(train=False)
        return view


def imagenet(root: str | Path | None = None, split: str = "train") -> ImageFolderSplit:
    root = resolve_root("imagenet", root, "ImageNet", IMAGENET_LAYOUT)
    folder = Path(root) / ("train" if split == "train" else "val")
    if not folder.is_dir():
        raise DatasetNotFoundError(f"ImageNet not found under {root}: expected {IMAGENET_LAYOUT}")
    try:
        return ImageFolderSplit(folder, train=split == "train", name="ImageNet")
    except (FileNotFoundError, RuntimeError) as error:
        raise DatasetNotFoundError(f"ImageNet under {root} is unusable: {error}") from None
