"""Reading a converted weight's card: what its conversion record says (imports nothing of the zoo, so the
plots and reports that read cards need not import the conversion pipeline)."""


def was_calibrated(conversion: dict) -> bool:
    """Whether a card's conversion record calibrated its states: ``--calibrate none`` without weight steps
    keeps the thresholds it converted with (a QCFS network's trained ones)."""
    return conversion.get("calibrate") != "none" or bool(conversion.get("weight_steps"))
