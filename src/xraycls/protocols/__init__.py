"""The paper's protocol (and CPU-sized reductions of it) as data, plus one runner.

Examples:
    >>> from xraycls.protocols import PROFILES
    >>> sorted(PROFILES)
    ['multisource', 'paper', 'quick', 'robust']
"""

from xraycls.protocols._profile import PAPER_MODELS, PROFILES, Profile, get_profile
from xraycls.protocols._runner import ModelResult, ReproductionResult, reproduce

__all__ = [
    "PAPER_MODELS",
    "PROFILES",
    "ModelResult",
    "Profile",
    "ReproductionResult",
    "get_profile",
    "reproduce",
]
