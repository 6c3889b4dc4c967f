"""Model families; importing this package registers every architecture."""
from . import ann, ltsnn, plif_net, relpsp, rsnn, sew_dvs, sew_resnet, ssgd, stbp  # noqa: F401
from .base import SpikingClassifier

__all__ = ["SpikingClassifier"]
