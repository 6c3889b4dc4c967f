"""ANN-to-SNN conversion (Li et al., ICML 2021): BN folding, thresholds, bias shift and layer-wise
calibration per T (:mod:`.pipeline`, :mod:`.calibration`), the IF runtime the converted SNN runs on
(:mod:`.ifnet`), the registered ``converted_*`` family (:mod:`.family`) and ``zoo convert``'s
checkpoint-to-weight publishing (:mod:`.publish`)."""
from . import family  # noqa: F401  (registers converted_resnet20, converted_resnet9)
from .ifnet import ConvertedSNN, IFNeuron, nearest_calibrated
from .pipeline import CALIBRATIONS, PIPELINES, convert, fold_bn

__all__ = ["CALIBRATIONS", "PIPELINES", "ConvertedSNN", "IFNeuron", "convert", "fold_bn", "nearest_calibrated"]
