"""Pictures of training without matplotlib: loss curves rasterized with numpy, PNG written with zlib.

`plot_curves(history)` returns an (H, W, 4) float32 RGBA image in 0..1, **top row first** (image
order). Blender images store the bottom row first: use `to_blender_pixels(rgba)` for
`image.pixels.foreach_set(...)`. `write_png(path, rgba)` saves it with only zlib and struct, so
headless runs save a picture without Blender.

Lines are drawn per segment as a distance field over the segment's bounding box (vectorized over
the pixels), with optional antialiasing; the axes carry tick labels in a tiny built-in 3×5 font.
"""

from __future__ import annotations

import math
import struct
import zlib
from dataclasses import dataclass

import numpy as np

from .model_files import atomic_write

PALETTE = {
    "background": (0.13, 0.13, 0.13),
    "plot": (0.17, 0.17, 0.17),
    "grid": (0.25, 0.25, 0.25),
    "axis": (0.62, 0.62, 0.62),
    "text": (0.82, 0.82, 0.82),
    "train": (0.27, 0.60, 1.00),
    "val": (1.00, 0.55, 0.13),
    "best": (0.35, 0.88, 0.40),
}

_GLYPHS = {
    "0": "111101101101111", "1": "010110010010111", "2": "111001111100111", "3": "111001111001111",
    "4": "101101111001001", "5": "111100111001111", "6": "111100111101111", "7": "111001001010010",
    "8": "111101111101111", "9": "111101111001111", ".": "000000000000010", "-": "000000111000000",
    "+": "000010111010000", " ": "000000000000000", "e": "000111111100111", "a": "000011101101011",
    "i": "010000010010010", "n": "000110101101101", "r": "000101110100100", "t": "010111010010011",
    "v": "000101101101010", "l": "110010010010111", "b": "100100111101111", "s": "000011110011110",
    "o": "000111101101111", "p": "000111101111100", "c": "000111100100111", "h": "100100111101101",
    "g": "000111101011110", "x": "000101010101101",
}
_GLYPH_BITS = {c: np.array([int(b) for b in bits], dtype=np.float32).reshape(5, 3) for c, bits in _GLYPHS.items()}


def _series(history, name):
    if isinstance(history, dict):
        values = history.get(name)
    else:
        values = getattr(history, name, None)
    if values is None:
        return np.zeros(0)
    return np.array([np.nan if v is None else float(v) for v in values], dtype=np.float64)


def _best_epoch(history, epochs, train, val, best_epoch):
    if best_epoch is None:
        best_epoch = history.get("best_epoch") if isinstance(history, dict) else getattr(history, "best_epoch", None)
    if best_epoch is not None and best_epoch is not False:
        value = float(best_epoch)
        return int(value) if value.is_integer() else value  # x need not be an epoch (e.g. log10 λ)
    for values in (val, train):
        if len(values) and np.isfinite(values).any():
            return int(epochs[int(np.nanargmin(np.where(np.isfinite(values), values, np.nan)))])
    return None


def _nice_step(span: float, count: int = 4) -> float:
    if not span > 0 or not math.isfinite(span):
        return 1.0
    raw = span / count
    power = 10.0 ** math.floor(math.log10(raw))
    for factor in (1, 2, 5, 10):
        if raw <= factor * power:
            return factor * power
    return 10 * power


def _format_value(value: float) -> str:
    if value == 0:
        return "0"
    text = f"{value:.3g}"
    if "e" in text:
        mantissa, exponent = text.split("e")
        text = f"{mantissa}e{int(exponent)}"
    return text


@dataclass
class CurveLayout:
    """Where data lands in the picture (pixel centres at integer coordinates, row 0 at the top)."""

    width: int
    height: int
    left: int
    right: int  # last column of the plot area
    top: int
    bottom: int  # last row of the plot area
    epoch_min: float
    epoch_max: float
    value_min: float  # log10 of the value when log_scale
    value_max: float
    log_scale: bool

    def x_of(self, epoch):
        e = np.asarray(epoch, dtype=np.float64)
        return self.left + (e - self.epoch_min) / (self.epoch_max - self.epoch_min) * (self.right - self.left)

    def transform(self, value):
        v = np.asarray(value, dtype=np.float64)
        if self.log_scale:
            with np.errstate(divide="ignore", invalid="ignore"):
                return np.where(v > 0, np.log10(np.where(v > 0, v, 1.0)), np.nan)
        return v

    def y_of(self, value):
        t = self.transform(value)
        return self.bottom - (t - self.value_min) / (self.value_max - self.value_min) * (self.bottom - self.top)


def curve_layout(history, width: int = 512, height: int = 256, log_scale: bool = False) -> CurveLayout:
    width, height = int(width), int(height)
    if width < 48 or height < 32:
        raise ValueError(f"A training plot needs at least 48×32 pixels, not {width}×{height}")
    labels = width >= 160 and height >= 80
    left = 38 if labels else 4
    bottom = height - (13 if labels else 5)
    top, right = 6, width - 7
    train, val = _series(history, "train_loss"), _series(history, "val_loss")
    epochs = _series(history, "epoch")
    if len(epochs) != len(train):
        epochs = np.arange(1, len(train) + 1, dtype=np.float64)
    e_min, e_max = (float(epochs.min()), float(epochs.max())) if len(epochs) else (1.0, 2.0)
    if e_max <= e_min:
        e_min, e_max = e_min - 0.5, e_max + 0.5
    probe = CurveLayout(width, height, left, right, top, bottom, e_min, e_max, 0.0, 1.0, log_scale)
    values = np.concatenate([probe.transform(train), probe.transform(val)])
    values = values[np.isfinite(values)]
    if len(values):
        lo, hi = float(values.min()), float(values.max())
    else:
        lo, hi = (-1.0, 0.0) if log_scale else (0.0, 1.0)
    if hi - lo < 1e-12 * max(1.0, abs(hi)):
        pad = 0.5 if log_scale else max(abs(hi) * 0.1, 1e-6)
        lo, hi = lo - pad, hi + pad
    pad = (hi - lo) * 0.05
    return CurveLayout(width, height, left, right, top, bottom, e_min, e_max, lo - pad, hi + pad, log_scale)


def _stroke(coverage: np.ndarray, xs, ys, half_width: float, antialias: bool) -> None:
    """Max-combine a polyline's coverage into `coverage`; NaN points break the line."""
    h, w = coverage.shape
    finite = np.isfinite(xs) & np.isfinite(ys)
    reach = half_width + 1.5
    for i in range(len(xs)):
        if not finite[i]:
            continue
        if i + 1 < len(xs) and finite[i + 1]:
            ax, ay, bx, by = xs[i], ys[i], xs[i + 1], ys[i + 1]
        elif i > 0 and finite[i - 1]:
            continue  # the end of a run was drawn with the previous segment
        else:
            ax, ay, bx, by = xs[i], ys[i], xs[i], ys[i]  # an isolated point: a dot
        c0 = max(0, int(math.floor(min(ax, bx) - reach)))
        c1 = min(w, int(math.ceil(max(ax, bx) + reach)) + 1)
        r0 = max(0, int(math.floor(min(ay, by) - reach)))
        r1 = min(h, int(math.ceil(max(ay, by) + reach)) + 1)
        if c0 >= c1 or r0 >= r1:
            continue
        py, px = np.mgrid[r0:r1, c0:c1].astype(np.float64)
        dx, dy = bx - ax, by - ay
        length2 = dx * dx + dy * dy
        t = np.clip(((px - ax) * dx + (py - ay) * dy) / length2, 0.0, 1.0) if length2 > 0 else 0.0
        distance = np.hypot(px - (ax + t * dx), py - (ay + t * dy))
        if antialias:
            cover = np.clip(half_width + 0.5 - distance, 0.0, 1.0)
        else:
            cover = (distance <= half_width).astype(np.float64)
        region = coverage[r0:r1, c0:c1]
        np.maximum(region, cover, out=region)


def _disc(coverage: np.ndarray, cx: float, cy: float, radius: float, antialias: bool) -> None:
    _stroke(coverage, np.array([cx]), np.array([cy]), radius, antialias)


def _blend(image: np.ndarray, coverage: np.ndarray, color) -> None:
    c = coverage[..., None].astype(np.float32)
    image[..., :3] = image[..., :3] * (1.0 - c) + np.asarray(color, dtype=np.float32) * c


def _text(image: np.ndarray, text: str, x: int, y: int, color, align: str = "left") -> None:
    """Stamp `text` with its top-left corner at (x, y) (or its right edge at x)."""
    glyphs = [_GLYPH_BITS.get(ch, _GLYPH_BITS[" "]) for ch in text.lower()]
    if not glyphs:
        return
    mask = np.concatenate([np.pad(g, ((0, 0), (0, 1))) for g in glyphs], axis=1)[:, :-1]
    if align == "right":
        x -= mask.shape[1]
    h, w = image.shape[:2]
    r0, c0 = max(0, y), max(0, x)
    r1, c1 = min(h, y + mask.shape[0]), min(w, x + mask.shape[1])
    if r0 >= r1 or c0 >= c1:
        return
    _blend(image[r0:r1, c0:c1], mask[r0 - y:r1 - y, c0 - x:c1 - x], color)


def _value_ticks(layout: CurveLayout) -> list[float]:
    """Tick values in data units (before the log transform)."""
    lo, hi = layout.value_min, layout.value_max
    if layout.log_scale:
        decades = list(range(math.ceil(lo), math.floor(hi) + 1))
        if len(decades) >= 2:
            step = max(1, math.ceil(len(decades) / 5))
            return [10.0 ** d for d in decades[::step]]
        lo, hi = 10.0 ** lo, 10.0 ** hi
    step = _nice_step(hi - lo)
    first = math.ceil(lo / step) * step
    ticks = [first + i * step for i in range(int((hi - first) / step + 1e-9) + 1)]
    return [0.0 if abs(t) < step * 1e-9 else t for t in ticks]


def plot_curves(history, width: int = 512, height: int = 256, *, log_scale: bool = False, antialias: bool = True,
                best_epoch: float | None = None, line_width: float = 1.6, legend: bool = True,
                mark_best: bool = True) -> np.ndarray:
    """Train (blue) and validation (orange) loss per epoch, axes with ticks, and the best epoch
    (green dashed line and dot). `history`: a TrainHistory or a dict with 'train_loss',
    'val_loss' (entries may be None) and optionally 'epoch' and 'best_epoch'."""
    layout = curve_layout(history, width, height, log_scale)
    h, w = layout.height, layout.width
    image = np.empty((h, w, 4), dtype=np.float32)
    image[..., :3] = PALETTE["background"]
    image[..., 3] = 1.0
    image[layout.top:layout.bottom + 1, layout.left:layout.right + 1, :3] = PALETTE["plot"]
    labels = layout.left > 10

    train, val = _series(history, "train_loss"), _series(history, "val_loss")
    epochs = _series(history, "epoch")
    if len(epochs) != len(train):
        epochs = np.arange(1, len(train) + 1, dtype=np.float64)

    # Grid, ticks and labels.
    for value in _value_ticks(layout):
        row = int(round(float(layout.y_of(value))))
        if layout.top <= row <= layout.bottom:
            image[row, layout.left:layout.right + 1, :3] = PALETTE["grid"]
            image[row, max(0, layout.left - 3):layout.left, :3] = PALETTE["axis"]
            if labels:
                _text(image, _format_value(value), layout.left - 5, row - 2, PALETTE["text"], align="right")
    span = layout.epoch_max - layout.epoch_min
    step = max(1.0, _nice_step(span, 5))
    tick = math.ceil(layout.epoch_min / step) * step
    while tick <= layout.epoch_max + 1e-9:
        col = int(round(float(layout.x_of(tick))))
        if layout.left <= col <= layout.right:
            image[layout.top:layout.bottom + 1, col, :3] = PALETTE["grid"]
            image[layout.bottom + 1:layout.bottom + 4, col, :3] = PALETTE["axis"]
            if labels:
                label = str(int(round(tick))) if abs(tick - round(tick)) < 1e-9 else _format_value(tick)
                _text(image, label, col - (4 * len(label) - 1) // 2, layout.bottom + 5, PALETTE["text"])
        tick += step
    image[layout.top:layout.bottom + 1, layout.left, :3] = PALETTE["axis"]
    image[layout.bottom, layout.left:layout.right + 1, :3] = PALETTE["axis"]

    plot_mask = np.zeros((h, w), dtype=np.float64)
    plot_mask[layout.top:layout.bottom + 1, layout.left + 1:layout.right + 1] = 1.0

    best = _best_epoch(history, epochs, train, val, best_epoch) if len(train) and mark_best else None
    if best is not None and layout.epoch_min <= best <= layout.epoch_max:
        col = int(round(float(layout.x_of(best))))
        rows = np.arange(layout.top, layout.bottom)
        dashed = rows[(rows - layout.top) % 6 < 3]
        image[dashed, col, :3] = PALETTE["best"]

    half = line_width / 2.0
    for name, values in (("train", train), ("val", val)):
        if len(values) and np.isfinite(values).any():
            coverage = np.zeros((h, w), dtype=np.float64)
            _stroke(coverage, layout.x_of(epochs), layout.y_of(values), half, antialias)
            _blend(image, coverage * plot_mask, PALETTE[name])

    if best is not None:
        where = np.flatnonzero(epochs == best)
        if len(where):
            i = int(where[0])
            marked = val if len(val) > i and np.isfinite(val[i]) else train
            y = float(layout.y_of(marked[i]))
            if math.isfinite(y):
                coverage = np.zeros((h, w), dtype=np.float64)
                _disc(coverage, float(layout.x_of(best)), y, 3.0, antialias)
                _blend(image, coverage, PALETTE["best"])

    if legend and labels:
        x = layout.right - 4
        for name in ("best", "val", "train"):
            if name == "val" and not np.isfinite(val).any():
                continue
            if name == "best" and best is None:
                continue
            label = name if name != "best" else f"best {best}"
            x_text = x - 4 * len(label) + 1
            _text(image, label, x_text, layout.top + 4, PALETTE["text"])
            image[layout.top + 5:layout.top + 8, x_text - 9:x_text - 2, :3] = PALETTE[name]
            x = x_text - 16
    np.clip(image, 0.0, 1.0, out=image)
    return image


def to_blender_pixels(rgba: np.ndarray) -> np.ndarray:
    """Flat float32 pixels in Blender's order (bottom row first) for `image.pixels.foreach_set`."""
    return np.ascontiguousarray(np.asarray(rgba, dtype=np.float32)[::-1]).reshape(-1)


def _chunk(kind: bytes, data: bytes) -> bytes:
    return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data) & 0xFFFFFFFF)


def png_bytes(rgba: np.ndarray) -> bytes:
    """An 8-bit PNG of an (H, W), (H, W, 3) or (H, W, 4) image (floats in 0..1 or uint8), top row first."""
    a = np.asarray(rgba)
    if a.ndim == 2:
        a = a[..., None]
    if a.ndim != 3 or a.shape[2] not in (1, 3, 4) or a.shape[0] < 1 or a.shape[1] < 1:
        raise ValueError(f"An image must be (H, W), (H, W, 3) or (H, W, 4), not {a.shape}")
    if a.dtype != np.uint8:
        a = np.clip(np.nan_to_num(a.astype(np.float64), nan=0.0), 0.0, 1.0)
        a = np.round(a * 255.0).astype(np.uint8)
    h, w, channels = a.shape
    color_type = {1: 0, 3: 2, 4: 6}[channels]
    raw = np.concatenate([np.zeros((h, 1), dtype=np.uint8), a.reshape(h, w * channels)], axis=1)
    header = struct.pack(">IIBBBBB", w, h, 8, color_type, 0, 0, 0)
    return (b"\x89PNG\r\n\x1a\n" + _chunk(b"IHDR", header) + _chunk(b"IDAT", zlib.compress(raw.tobytes(), 6))
            + _chunk(b"IEND", b""))


def write_png(path, rgba: np.ndarray):
    """Write a PNG atomically (a temporary file moved into place)."""
    data = png_bytes(rgba)
    return atomic_write(path, lambda handle: handle.write(data))
