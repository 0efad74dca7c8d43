"""Built-in backbone families; importing this package registers them.

Examples:
    >>> import xraycls.zoo.families
    >>> from xraycls.zoo import get_backbone
    >>> get_backbone("simple_cnn").source
    'builtin'
"""

from xraycls.zoo.families import keras_apps, simple_cnn

__all__ = ["keras_apps", "simple_cnn"]
