"""Market data rules on plain arrays: validation, split repair, dataset splits and features.

No pandas here (the data adapters convert frames to :class:`OhlcvSeries`); no clock, no files.
Dates are ``numpy.datetime64[D]`` exchange dates; timestamps are ``int64`` nanoseconds since
the epoch, UTC.

* :mod:`.series` — one ticker's bars as arrays, the split-evidence thresholds;
* :mod:`.findings` — what validation and repair report;
* :mod:`.jumps` — large moves weighed as split, real move or ambiguous;
* :mod:`.validation` and :mod:`.repair` — check, then fix what can be fixed;
* :mod:`.dataset_splits` — chronological train / validation / test splits;
* :mod:`.catalyst` — catalyst features from the alert history, usable only once known;
* :mod:`.features` — the indicator and market features of the RL observation.
"""

from domain.market_data.catalyst import (
    CATALYST_FEATURES,
    FLAG_TYPES,
    Availability,
    CatalystFeatures,
    alert_known_ns,
    alerts_before_start,
    catalyst_features,
    first_usable_bar,
)
from domain.market_data.dataset import DatasetSpec
from domain.market_data.dataset_splits import SplitIndices, chronological_splits
from domain.market_data.findings import IssueSeverity, Problem, ValidationIssue
from domain.market_data.jumps import JumpFinding, Verdict, classify_jumps, ratio_text
from domain.market_data.repair import RepairResult, repair_series
from domain.market_data.series import (
    EXACT_SPLIT_RATIOS,
    SPLIT_RATIOS,
    OhlcvSeries,
    SplitRules,
)
from domain.market_data.validation import validate_series

__all__ = [
    "CATALYST_FEATURES",
    "EXACT_SPLIT_RATIOS",
    "FLAG_TYPES",
    "SPLIT_RATIOS",
    "Availability",
    "CatalystFeatures",
    "DatasetSpec",
    "IssueSeverity",
    "JumpFinding",
    "OhlcvSeries",
    "Problem",
    "RepairResult",
    "SplitIndices",
    "SplitRules",
    "ValidationIssue",
    "Verdict",
    "alert_known_ns",
    "alerts_before_start",
    "catalyst_features",
    "chronological_splits",
    "classify_jumps",
    "first_usable_bar",
    "ratio_text",
    "repair_series",
    "validate_series",
]
