"""Model families; importing this package registers every architecture."""
from . import (ann, ltsnn, plif_net, relpsp, rsnn, sew_dvs, sew_resnet, spike_driven, spikformer,  # noqa: F401
               ssgd, stbp)
from .base import SpikingClassifier

__all__ = ["SpikingClassifier"]
