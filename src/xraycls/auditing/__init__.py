"""The shortcut audit: does a chest X-ray classifier decide from the lungs or from the source?

`audit` runs a model on each image as is, with the lung field blacked out, with everything but
the lung field blacked out and with burned-in text inpainted; it measures how much Grad-CAM
attention falls inside the lungs and whether the penultimate features encode the image source.
Findings beyond the thresholds documented in ``docs/audit.md`` become plain-language flags.

Examples:
    >>> from xraycls.auditing import AuditReport, Thresholds
    >>> Thresholds().probe_auc
    0.7
    >>> import xraycls
    >>> report = xraycls.audit("best.keras", test)  # doctest: +SKIP
    >>> print(report.to_markdown())  # doctest: +SKIP
"""

from __future__ import annotations

from xraycls.auditing._audit import audit
from xraycls.auditing._flags import Thresholds, find_flags
from xraycls.auditing._page import save_audit
from xraycls.auditing._report import AuditReport, Flag

__all__ = ["AuditReport", "Flag", "Thresholds", "audit", "find_flags", "save_audit"]
