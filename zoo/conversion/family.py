"""SNNs converted from trained ANNs (:mod:`zoo.conversion`). The registered builder makes the converted
structure (BN folded into convolution biases, IF neurons with threshold/shift/initial-potential
buffers), so a shipped conversion loads like any other weight and runs at any ``T``."""
from __future__ import annotations

from ..models.ann import RESNET9_PAPER, ann_resnet9, ann_resnet20
from .ifnet import DEFAULT_SURROGATE, ConvertedSNN
from .pipeline import check_convertible, fold_bn
from ..hub.registry import register_model

PAPER = "ANN-to-SNN conversion with threshold balancing and layer-wise calibration (Li et al., ICML 2021)"


@register_model(paper=PAPER)
def converted_resnet20(num_classes: int = 10, in_channels: int = 3, input_size: tuple[int, int] = (32, 32),
                       width: int = 16, T: int = 32, bias_shift: bool = True, calibrated_T: tuple[int, ...] = (),
                       activation: str = "relu", qcfs_levels: int = 8, surrogate: str = DEFAULT_SURROGATE,
                       surrogate_alpha: float | None = None) -> ConvertedSNN:
    """ResNet-20 converted to IF neurons with soft reset; choose ``T`` at load time (a weight calibrated for
    several ``T`` uses the state calibrated for it). ``activation="qcfs"``: converted from a QCFS ANN.
    ``surrogate``: the spike's derivative when it is fine-tuned (``model.from_ann`` in a recipe)."""
    ann = ann_resnet20(num_classes=num_classes, in_channels=in_channels, input_size=input_size, width=width,
                       activation=activation, qcfs_levels=qcfs_levels)
    return ConvertedSNN(fold_bn(ann), T=T, bias_shift=bias_shift, calibrated_T=tuple(calibrated_T),
                        surrogate=surrogate, surrogate_alpha=surrogate_alpha)


@register_model(paper=f"{PAPER}; the ANN: {RESNET9_PAPER}")
def converted_resnet9(num_classes: int = 10, in_channels: int = 3, input_size: tuple[int, int] = (32, 32),
                      width: int = 64, T: int = 32, bias_shift: bool = True, calibrated_T: tuple[int, ...] = (),
                      activation: str = "relu", qcfs_levels: int = 8, surrogate: str = DEFAULT_SURROGATE,
                      surrogate_alpha: float | None = None, pool: str = "avg") -> ConvertedSNN:
    """Page's ResNet-9 converted to IF neurons, as :func:`converted_resnet20`; ``pool`` is the ANN's
    (kept in its card's arguments), and only average pooling converts."""
    ann = ann_resnet9(num_classes=num_classes, in_channels=in_channels, input_size=input_size, width=width,
                      activation=activation, qcfs_levels=qcfs_levels, pool=pool)
    check_convertible(ann)
    return ConvertedSNN(fold_bn(ann), T=T, bias_shift=bias_shift, calibrated_T=tuple(calibrated_T),
                        surrogate=surrogate, surrogate_alpha=surrogate_alpha)
