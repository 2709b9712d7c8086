"""Open and decode every image of a list, in parallel, before it is needed.

A corrupt, truncated, empty or missing image otherwise shows up only when a
dataloader reaches it, e.g. at the final evaluation after all training.
:func:`verify_images` decodes each file with the loading transform the
pipelines use (:class:`~mmvireid.datasets.transforms.LoadVIReIDImage` by
default), so a file it reports is exactly a file that would fail to load.
"""
import os
from concurrent.futures import ThreadPoolExecutor
from typing import Callable, Iterable, Iterator, List, Optional, Tuple

import cv2
from mmengine.utils import track_iter_progress

from .transforms.load_vireid_image import ImageLoadError, LoadVIReIDImage

Loader = Callable[[dict], Optional[dict]]

MISSING = 'missing'
EMPTY = 'empty (0 bytes)'
UNDECODABLE = 'cannot decode (corrupt, truncated or not an image)'


def _default_num_workers() -> int:
    """Decoding threads by default: the CPU count, at most 8."""
    return min(8, os.cpu_count() or 1)


def _check_image(path: str, loader: Optional[Loader] = None) -> Optional[str]:
    """Why ``path`` cannot be loaded, or None when it loads.

    Args:
        path (str): The image file.
        loader (callable, optional): A loading transform (``results`` dict
            with ``img_path`` in, dict with ``img`` out). Defaults to
            ``LoadVIReIDImage()``.

    Returns:
        str | None: ``'missing'``, ``'empty (0 bytes)'``, ``'cannot decode
        (...)'`` or another short reason; None if the image decodes.
    """
    if '://' not in path:  # local file: tell missing / empty apart cheaply
        try:
            if os.path.getsize(path) == 0:
                return EMPTY
        except FileNotFoundError:
            return MISSING
        except OSError as error:
            return f'cannot be read ({error.strerror or error})'
    loader = loader or LoadVIReIDImage()
    try:
        results = loader(dict(img_path=path))
    except FileNotFoundError:
        return MISSING
    except (ImageLoadError, AssertionError, cv2.error):
        return UNDECODABLE
    except Exception as error:  # noqa: BLE001 - reported, not raised
        return f'cannot be loaded ({type(error).__name__}: {error})'
    if results is None or results.get('img') is None:
        return 'cannot be loaded (the loading transform returned nothing)'
    return None


def verify_images(paths: Iterable[str],
                  num_workers: Optional[int] = None,
                  progress: bool = True,
                  loader: Optional[Loader] = None) -> List[Tuple[str, str]]:
    """Decode every image and return all that fail, with the reason.

    Decoding runs in a thread pool (OpenCV releases the GIL while it reads
    and decodes), with mmengine's progress bar.

    Args:
        paths (Iterable[str]): Image files; a path listed twice is checked
            and reported once.
        num_workers (int, optional): Decoding threads; 0 decodes in this
            thread. Defaults to the CPU count, at most 8.
        progress (bool): Show a progress bar. Defaults to True.
        loader (callable, optional): The loading transform to decode with
            (e.g. the first transform of a dataset's pipeline). Defaults to
            ``LoadVIReIDImage()``.

    Returns:
        list[tuple[str, str]]: ``(path, reason)`` of every bad file, in the
        order of ``paths``; empty when all load.

    Raises:
        ValueError: ``num_workers`` is negative or not an int.
    """
    if num_workers is None:
        num_workers = _default_num_workers()
    if isinstance(num_workers, bool) or not isinstance(num_workers, int) \
            or num_workers < 0:
        raise ValueError('verify_images: num_workers must be an int >= 0, '
                         f'got {num_workers!r}')
    unique = list(dict.fromkeys(paths))
    loader = loader or LoadVIReIDImage()

    def check(path: str) -> Optional[str]:
        return _check_image(path, loader)

    def collect(reasons: Iterator[Optional[str]]) -> List[Tuple[str, str]]:
        if progress and unique:
            reasons = track_iter_progress((reasons, len(unique)))
        reasons = list(reasons)  # exhausted: the bar ends its line
        return [(path, why) for path, why in zip(unique, reasons) if why]

    if num_workers == 0:
        return collect(map(check, unique))
    with ThreadPoolExecutor(max_workers=num_workers) as pool:
        return collect(pool.map(check, unique))


def format_bad_images(bad: List[Tuple[str, str]], limit: int = 0) -> str:
    """One ``<path>: <reason>`` line per bad file.

    Args:
        bad (list[tuple[str, str]]): What :func:`verify_images` returned.
        limit (int): Show at most this many lines and count the rest;
            0 shows all. Defaults to 0.

    Returns:
        str: The lines joined by newlines.
    """
    shown = bad if limit <= 0 else bad[:limit]
    lines = [f'{path}: {reason}' for path, reason in shown]
    if len(shown) < len(bad):
        lines.append(f'... and {len(bad) - len(shown)} more')
    return '\n'.join(lines)
