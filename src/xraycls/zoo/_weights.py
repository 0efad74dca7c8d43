"""Weight resolution: the Keras cache for ImageNet weights, local files, sha256 checks.

ImageNet weights of the ``keras.applications`` backbones are looked up in Keras's own cache,
``$KERAS_HOME/models/`` (``~/.keras/models/`` when ``KERAS_HOME`` is unset), under the exact file
name Keras uses. When the file is missing, a download happens only if it is allowed:

* ``allow_download=True`` / ``False`` (argument of ``build_model``) decides, else
* ``XRAYCLS_ALLOW_DOWNLOAD=1`` / ``0`` (environment) decides, else
* a 1.5 s TCP probe of the download host decides (so an offline machine fails at once instead
  of waiting for a network timeout).

A refusal is a :class:`~xraycls.errors.WeightsError` naming the file and the folder to put it in.

Examples:
    >>> from xraycls.zoo._weights import imagenet_file
    >>> imagenet_file("xception").file_name
    'xception_weights_tf_dim_ordering_tf_kernels_notop.h5'
"""

from __future__ import annotations

import hashlib
import os
import socket
import urllib.parse
from dataclasses import dataclass
from pathlib import Path

from xraycls.errors import WeightsError

__all__ = [
    "ALLOW_DOWNLOAD_ENV",
    "ImagenetFile",
    "download_allowed",
    "imagenet_file",
    "keras_cache_dir",
    "resolve_imagenet",
    "sha256_of",
    "verify_sha256",
]

#: Environment variable that allows (``1``) or forbids (``0``) downloading ImageNet weights.
ALLOW_DOWNLOAD_ENV = "XRAYCLS_ALLOW_DOWNLOAD"
_PROBE_TIMEOUT_S = 1.5

_KA = "https://storage.googleapis.com/tensorflow/keras-applications/"


@dataclass(frozen=True)
class ImagenetFile:
    """A ``keras.applications`` headless (``include_top=False``) ImageNet weights file.

    Attributes:
        file_name: The exact name Keras caches it under.
        url: Where Keras downloads it from.
        md5: The hash Keras checks after a download.
    """

    file_name: str
    url: str
    md5: str


def _ka(folder: str, file_name: str, md5: str) -> ImagenetFile:
    return ImagenetFile(file_name, f"{_KA}{folder}/{file_name}", md5)


# Copied from keras/src/applications/*.py (Keras 3); the names are stable across Keras versions.
_IMAGENET_FILES: dict[str, ImagenetFile] = {
    "vgg16": _ka(
        "vgg16",
        "vgg16_weights_tf_dim_ordering_tf_kernels_notop.h5",
        "6d6bbae143d832006294945121d1f1fc",
    ),
    "xception": _ka(
        "xception",
        "xception_weights_tf_dim_ordering_tf_kernels_notop.h5",
        "b0042744bf5b25fce3cb969f33bebb97",
    ),
    "resnet50": _ka(
        "resnet",
        "resnet50_weights_tf_dim_ordering_tf_kernels_notop.h5",
        "4d473c1dd8becc155b73f8504c6f6626",
    ),
    "resnet101": _ka(
        "resnet",
        "resnet101_weights_tf_dim_ordering_tf_kernels_notop.h5",
        "88cf7a10940856eca736dc7b7e228a21",
    ),
    "inception_resnet_v2": _ka(
        "inception_resnet_v2",
        "inception_resnet_v2_weights_tf_dim_ordering_tf_kernels_notop.h5",
        "d19885ff4a710c122648d3b5c3b684e4",
    ),
    "densenet201": _ka(
        "densenet",
        "densenet201_weights_tf_dim_ordering_tf_kernels_notop.h5",
        "c13680b51ded0fb44dff2d8f86ac8bb1",
    ),
    "mobilenet_v3_small": _ka(
        "mobilenet_v3",
        "weights_mobilenet_v3_small_224_1.0_float_no_top_v2.h5",
        "d3e8ec802a04aa4fc771ee12a9a9b836",
    ),
    "efficientnet_b0": ImagenetFile(
        "efficientnetb0_notop.h5",
        "https://storage.googleapis.com/keras-applications/efficientnetb0_notop.h5",
        "50bc09e76180e00e4465e1a485ddc09d",
    ),
}


def imagenet_file(backbone: str) -> ImagenetFile:
    """Return the ImageNet weights file of a built-in backbone.

    Args:
        backbone: Canonical built-in name, e.g. ``"resnet50"``.

    Raises:
        WeightsError: The backbone has no ImageNet weights.
    """
    try:
        return _IMAGENET_FILES[backbone]
    except KeyError:
        have = ", ".join(sorted(_IMAGENET_FILES))
        raise WeightsError(
            f"backbone {backbone!r} has no ImageNet weights (available for: {have}); "
            "use weights=None or a path to a weights file"
        ) from None


def keras_cache_dir() -> Path:
    """The folder of Keras's weight cache: ``$KERAS_HOME/models``, else ``~/.keras/models``.

    ``KERAS_HOME`` is read at call time, so tests and users can point it elsewhere.

    Examples:
        >>> keras_cache_dir().name
        'models'
    """
    home = os.environ.get("KERAS_HOME") or os.path.join(os.path.expanduser("~"), ".keras")
    return Path(home) / "models"


def _host_reachable(url: str, timeout: float = _PROBE_TIMEOUT_S) -> bool:
    parts = urllib.parse.urlsplit(url)
    try:
        with socket.create_connection((parts.hostname or "", parts.port or 443), timeout=timeout):
            return True
    except OSError:
        return False


def download_allowed(allow_download: bool | None, url: str) -> tuple[bool, str]:
    """Decide whether a missing weights file may be downloaded, and say why.

    Args:
        allow_download: The caller's choice; ``None`` defers to the environment, then a probe.
        url: The file's URL (its host is probed).

    Returns:
        ``(allowed, reason)``.
    """
    if allow_download is not None:
        return bool(allow_download), f"allow_download={allow_download}"
    env = os.environ.get(ALLOW_DOWNLOAD_ENV, "").strip().lower()
    if env in {"1", "true", "yes", "on"}:
        return True, f"{ALLOW_DOWNLOAD_ENV}={env}"
    if env in {"0", "false", "no", "off"}:
        return False, f"{ALLOW_DOWNLOAD_ENV}={env}"
    host = urllib.parse.urlsplit(url).hostname
    if _host_reachable(url):
        return True, f"{host} is reachable"
    return False, f"{host} is not reachable (offline?)"


def sha256_of(path: str | os.PathLike[str]) -> str:
    """Return the hex sha256 of a file, read in 1 MiB chunks."""
    digest = hashlib.sha256()
    with open(path, "rb") as fh:
        for chunk in iter(lambda: fh.read(1 << 20), b""):
            digest.update(chunk)
    return digest.hexdigest()


def verify_sha256(path: str | os.PathLike[str], expected: str | None) -> None:
    """Raise :class:`WeightsError` when ``path``'s sha256 differs from ``expected`` (if given).

    Examples:
        >>> import tempfile, pathlib
        >>> p = pathlib.Path(tempfile.mkdtemp()) / "w.h5"
        >>> _ = p.write_bytes(b"")
        >>> verify_sha256(p, "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855")
    """
    if expected is None:
        return
    actual = sha256_of(path)
    if actual.lower() != expected.strip().lower():
        raise WeightsError(
            f"{os.fspath(path)}: sha256 mismatch: expected {expected.strip().lower()}, "
            f"file has {actual}. The file is corrupt or not the one you meant; replace it."
        )


def check_weights_file(path: str | os.PathLike[str], sha256: str | None) -> Path:
    """Return ``path`` as a ``Path`` after checking it exists and (optionally) its sha256."""
    p = Path(path).expanduser()
    if not p.is_file():
        raise WeightsError(
            f"weights file {os.fspath(path)!r} does not exist; weights must be None, "
            "'imagenet' or the path to a .weights.h5 / .h5 file"
        )
    verify_sha256(p, sha256)
    return p


def resolve_imagenet(
    backbone: str, *, allow_download: bool | None = None, sha256: str | None = None
) -> Path:
    """Return the local path of a built-in backbone's ImageNet weights, downloading if allowed.

    Args:
        backbone: Canonical built-in name.
        allow_download: See the module docs.
        sha256: Optional expected sha256 of the file.

    Returns:
        The path of the file in the Keras cache.

    Raises:
        WeightsError: No ImageNet weights for this backbone, file missing and download not
            allowed (names the file and the folder), download failed, or sha256 mismatch.
    """
    info = imagenet_file(backbone)
    folder = keras_cache_dir()
    path = folder / info.file_name
    if not path.is_file():
        allowed, why = download_allowed(allow_download, info.url)
        if not allowed:
            raise WeightsError(
                f"ImageNet weights for {backbone!r} are not in the Keras cache and were not "
                f"downloaded ({why}). Expected file {info.file_name!r} in folder "
                f"{os.fspath(folder)!r}. Download {info.url} and put it there (or set "
                f"KERAS_HOME to a folder whose models/ has it), or allow downloading with "
                f"allow_download=True or {ALLOW_DOWNLOAD_ENV}=1."
            )
        import keras  # here, not at the top: this module must stay cheap to import

        try:
            fetched = keras.utils.get_file(
                info.file_name,
                info.url,
                cache_subdir="models",
                cache_dir=os.fspath(folder.parent),
                file_hash=info.md5,
            )
        except Exception as exc:
            raise WeightsError(
                f"could not download {info.url} to {os.fspath(folder)!r}: "
                f"{type(exc).__name__}: {exc}"
            ) from exc
        path = Path(fetched)
    verify_sha256(path, sha256)
    return path
