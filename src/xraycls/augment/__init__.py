"""Image augmentation: the seeded `Augmenter` over imgaug, the paper preset, class balancing.

Two ways to counter the COVID-19 class imbalance, as in the paper and its alternatives:

* offline oversampling with :func:`balance` (the paper's method: augmented copies of the
  minority class, written to memory or a folder, each remembering its original), and
* :func:`class_weights` for the loss, optionally with on-the-fly augmentation of every batch
  (the ``augmenter=`` argument of ``Dataset.to_tf_dataset``).

Examples:
    >>> import numpy as np
    >>> from xraycls.augment import Augmenter, class_weights
    >>> aug = Augmenter.paper(seed=0)
    >>> aug(np.zeros((2, 64, 64, 3), np.uint8)).shape
    (2, 64, 64, 3)
    >>> class_weights([0, 0, 0, 1])
    {0: 0.6666666666666666, 1: 2.0}
"""

from __future__ import annotations

from xraycls.augment._augmenter import Augmenter, PaperAugmentation
from xraycls.augment._balance import balance
from xraycls.augment._sources import balance_sources
from xraycls.augment._weights import class_weights

__all__ = ["Augmenter", "PaperAugmentation", "balance", "balance_sources", "class_weights"]
