"""Downloading a weight file from its card's ``url``: streamed into a temporary file beside the
target, verified against the card's sha256 *before* it is renamed into place, retried once when
the transfer breaks off or arrives damaged. Two processes fetching the same file each write their
own temporary file; the rename is atomic, so no reader ever sees half a file."""
from __future__ import annotations

import hashlib
import http.client
import urllib.error
import urllib.request
from pathlib import Path

from tqdm.auto import tqdm

from ..atomic import atomic_open
from ..errors import WeightsError

CHUNK = 1 << 20


class _BadTransfer(Exception):
    """A transfer that ended early or whose content does not hash to the card's sha256."""


def file_sha256(path: Path) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as handle:
        for chunk in iter(lambda: handle.read(CHUNK), b""):
            digest.update(chunk)
    return digest.hexdigest()


def _fetch_once(url: str, target: Path, sha256: str, timeout: float, progress: bool) -> None:
    with urllib.request.urlopen(url, timeout=timeout) as response, atomic_open(target) as handle:
        announced = response.headers.get("Content-Length")
        total = int(announced) if announced and announced.isdigit() else None
        digest, size = hashlib.sha256(), 0
        with tqdm(total=total, unit="B", unit_scale=True, desc=target.name, disable=not progress, leave=False) as bar:
            for chunk in iter(lambda: response.read(CHUNK), b""):
                handle.write(chunk)
                digest.update(chunk)
                size += len(chunk)
                bar.update(len(chunk))
        # raising inside atomic_open discards the temporary file: nothing unverified is renamed
        if total is not None and size != total:
            raise _BadTransfer(f"transfer ended after {size} of {total} bytes")
        if digest.hexdigest() != sha256:
            raise _BadTransfer(f"content has sha256 {digest.hexdigest()[:16]}..., the card says {sha256[:16]}...")


def fetch(url: str, target: str | Path, sha256: str, attempts: int = 2, timeout: float = 60.0,
          progress: bool = True) -> Path:
    """``target``, downloaded from ``url`` unless a verified copy is already there."""
    target = Path(target)
    if target.is_file() and file_sha256(target) == sha256:
        return target
    problems = []
    for _ in range(attempts):
        try:
            _fetch_once(url, target, sha256, timeout, progress)
            return target
        except (_BadTransfer, http.client.HTTPException) as error:  # worth one more try
            problems.append(str(error) or type(error).__name__)
        except urllib.error.HTTPError as error:
            raise WeightsError(f"could not download {target.name} from {url}: HTTP {error.code} {error.reason}") from None
        except (urllib.error.URLError, OSError, ValueError) as error:
            raise WeightsError(f"could not download {target.name} from {url}: {error}") from None
    raise WeightsError(f"could not download {target.name} from {url}: {'; '.join(problems)}")
