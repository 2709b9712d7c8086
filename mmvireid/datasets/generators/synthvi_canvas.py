"""Vectorised shape rasterisation into a uint8 part-label map."""
from __future__ import annotations

import math

import numpy as np


class LabelCanvas:
    """A part-label map and painters that rasterise a shape on the pixel
    grid of its bounding box only (later shapes overwrite earlier ones).

    Args:
        height (int): Map height.
        width (int): Map width.
    """

    def __init__(self, height: int, width: int) -> None:
        self.labels = np.zeros((height, width), np.uint8)
        self.ys = np.arange(height, dtype=np.float32) + 0.5
        self.xs = np.arange(width, dtype=np.float32) + 0.5

    def _window(self, x0: float, y0: float, x1: float, y1: float):
        h, w = self.labels.shape
        i0, i1 = max(int(math.floor(y0)), 0), min(int(math.ceil(y1)), h)
        j0, j1 = max(int(math.floor(x0)), 0), min(int(math.ceil(x1)), w)
        if i0 >= i1 or j0 >= j1:
            return None
        return (slice(i0, i1), slice(j0, j1), self.ys[i0:i1,
                                                      None], self.xs[None,
                                                                     j0:j1])

    def rect(self, lab: int, x0: float, y0: float, x1: float,
             y1: float) -> None:
        win = self._window(x0, y0, x1, y1)
        if win is not None:
            sy, sx, yy, xx = win
            m = (yy >= y0) & (yy < y1) & (xx >= x0) & (xx < x1)
            self.labels[sy, sx][m] = lab

    def ellipse(self, lab: int, cx: float, cy: float, rx: float,
                ry: float) -> None:
        win = self._window(cx - rx, cy - ry, cx + rx, cy + ry)
        if win is not None:
            sy, sx, yy, xx = win
            m = ((xx - cx) / rx)**2 + ((yy - cy) / ry)**2 <= 1
            self.labels[sy, sx][m] = lab

    def capsule(self, lab: int, xa: float, ya: float, xb: float, yb: float,
                r: float) -> None:
        win = self._window(
            min(xa, xb) - r,
            min(ya, yb) - r,
            max(xa, xb) + r,
            max(ya, yb) + r)
        if win is None:
            return
        sy, sx, yy, xx = win
        dx, dy = xb - xa, yb - ya
        t = ((xx - xa) * dx + (yy - ya) * dy) / max(dx * dx + dy * dy, 1e-6)
        t = np.clip(t, 0, 1)
        m = (xx - xa - t * dx)**2 + (yy - ya - t * dy)**2 <= r * r
        self.labels[sy, sx][m] = lab

    def trapezoid(self, lab: int, y0: float, y1: float, cx0: float, hw0: float,
                  cx1: float, hw1: float) -> None:
        """Rows ``y0..y1``; centre and half-width interpolate linearly."""
        win = self._window(
            min(cx0 - hw0, cx1 - hw1), y0, max(cx0 + hw0, cx1 + hw1), y1)
        if win is not None:
            sy, sx, yy, xx = win
            t = (yy - y0) / max(y1 - y0, 1e-6)
            m = np.abs(xx - (cx0 + t * (cx1 - cx0))) <= hw0 + t * (hw1 - hw0)
            self.labels[sy, sx][m & (yy >= y0) & (yy < y1)] = lab

    def pattern(self, src: int, dst: int, kind: str, period: float,
                phase: float, cx: float, top: float, size: float, y0: float,
                y1: float) -> None:
        """Relabel ``src`` pixels of rows ``y0..y1`` to ``dst`` where the
        garment pattern (in body coordinates) is on."""
        if kind == 'solid':
            return
        win = self._window(0, y0, self.labels.shape[1], y1)
        if win is None:
            return
        sy, sx, yy, xx = win
        u = (xx - cx) / (size * period) + phase
        v = (yy - top) / (size * period) + phase
        if kind == 'hstripes':
            on = np.floor(v).astype(np.int32) % 2 == 1
            on = np.broadcast_to(on, (on.shape[0], xx.shape[1]))
        elif kind == 'vstripes':
            on = np.floor(u).astype(np.int32) % 2 == 1
            on = np.broadcast_to(on, (yy.shape[0], on.shape[1]))
        elif kind == 'checks':
            on = (np.floor(u).astype(np.int32) +
                  np.floor(v).astype(np.int32)) % 2 == 1
        else:  # diagonal
            on = np.floor(u + v).astype(np.int32) % 2 == 1
        win_labels = self.labels[sy, sx]
        win_labels[on & (win_labels == src)] = dst
