"""Sketches: what people draw, made comparable with line drawings of shapes, and searched with
(Wang, Kang & Li 2015) a two-branch network — one branch for sketches, one for line-drawing views —
whose embeddings put a sketch near the views of shapes of its class; a query ranks the library's
shapes by their best view.

One preprocessing for every kind of sketch (`normalize_sketch`): a doodle, the annotation strokes
drawn in the viewport (`rasterize_strokes` at a high resolution) and a line-drawing view of a shape
all go through it, so that the network sees the same thing from all three:

1. ink = darkness relative to the paper (or lightness, for light ink on a dark ground), soft: an
   anti-aliased grey stroke counts in proportion to its contrast, not by a 0.5 threshold;
2. crop to the ink's bounding box, centre it, scale its longer side to fit inside a margin;
3. resample by area averaging (every source pixel counts, none are cut off), then undo the fading
   of strokes thinner than an output pixel (the stroke width is estimated as 2 · ink / edge length);
4. thin the strokes to 1 px (Zhang & Suen 1984) and draw them again with one round, anti-aliased
   pen, so thick markers, hairlines and rendered lines all end up alike.

`hand_drawn` turns clean line drawings into sketch-like ones (partial strokes, over-sketching,
perspective, wobble, a varying pen); `stroke_statistics` measures what real doodles look like after
normalisation, which is what its strengths were set against. `training_sketch` adds what people do
to whole outlines: leave the caps out (a vase drawn as its two side curves, no rim or foot:
`without_caps`) and slip (a stray straight stroke: `with_slip`). Without them two bare side curves
looked more like a chair's legs than like any vase outline the network had seen.

The sketch encoder (`SketchEncoder`) is a small CNN trained to tell real doodles apart — the
*Quick, Draw!* doodles (Quick, Draw! dataset, Google; CC BY 4.0), read by `shapespace.quickdraw` —
with augmentation drawn fresh for every batch; its weights start the sketch branch of
`SketchRetrieval`, which is then trained on hand-drawn-looking copies of the library's views.
Images are (H, W) float32 in 0..1, 1 on the lines.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

SKETCH_KIND = "sketch_retrieval"
SKETCH_LAYOUT = 2  # 1: 32 px ring views, any()-pooled images; 2: normalised sketches, doodle-trained encoder
SKETCH_SIZE = 64  # pixels per side of a normalised sketch (measured: see tests/test_sketch.py)
PEN_WIDTH = 2.0  # pixels of the redrawn pen at SKETCH_SIZE (scaled with the size)
MARGIN = 0.08  # share of the side left empty on every side of the ink
RENDER_RESOLUTION = 128  # line drawings of library shapes are rendered at this size, then normalised
STROKE_RESOLUTION = 256  # annotation strokes are drawn this large, then normalised like any sketch
_INK_FLOOR = 0.08  # contrast below this share of the strongest ink is paper texture or noise
_LUMA = np.array([0.2126, 0.7152, 0.0722], np.float32)


# --------------------------------------------------------------------------------------------
# Preprocessing: any image of a sketch → a normalised sketch
# --------------------------------------------------------------------------------------------


def _grey_batch(images: np.ndarray) -> np.ndarray:
    """(N, H, W) float32 grey levels in 0..1 of (N, H, W[, C]) images (uint8, uint16 or 0..1 floats)."""
    a = np.asarray(images)
    if a.dtype == np.uint8:
        a = a.astype(np.float32) / 255.0
    elif a.dtype == np.uint16:
        a = a.astype(np.float32) / 65535.0
    elif a.dtype == bool:
        a = a.astype(np.float32)
    elif not np.issubdtype(a.dtype, np.number):
        raise ValueError(f"A sketch image must hold numbers, not {a.dtype}")
    a = np.asarray(a, np.float32)
    if a.ndim == 4 and a.shape[3] == 1:
        a = a[..., 0]
    if a.ndim == 4 and a.shape[3] in (3, 4):
        grey = a[..., :3] @ _LUMA
        if a.shape[3] == 4:
            alpha = np.clip(a[..., 3], 0.0, 1.0)
            over_white = alpha * grey + (1 - alpha)
            # transparent paper: lay it on white, unless the strokes themselves are white
            no_contrast = (over_white.max(axis=(1, 2)) - over_white.min(axis=(1, 2))) <= 0.05
            grey = np.where(no_contrast[:, None, None], alpha * grey, over_white)
    elif a.ndim == 3:
        grey = a
    else:
        raise ValueError(f"A sketch image must be greyscale, RGB or RGBA (H × W [× 1, 3 or 4]), not "
                         f"{a.shape[1:]}")
    if not np.isfinite(grey).all():
        raise ValueError("The sketch image has NaN or infinite pixels; save it again as an ordinary image")
    return np.clip(grey, 0.0, 1.0)


def _ink_batch(images: np.ndarray) -> np.ndarray:
    grey = _grey_batch(images)
    if not grey.size:
        return grey
    paper = np.median(grey.reshape(len(grey), -1), axis=1)[:, None, None]
    deviation = np.where(paper >= 0.5, paper - grey, grey - paper)  # ink darker (or lighter) than the paper
    contrast = deviation.max(axis=(1, 2), keepdims=True)
    ink = np.clip((deviation / np.maximum(contrast, 1e-6) - _INK_FLOOR) / (1 - _INK_FLOOR), 0.0, 1.0)
    return np.where(contrast >= 0.05, ink, 0.0).astype(np.float32)


def sketch_ink(image) -> np.ndarray:
    """(H, W) float32 ink in 0..1 from a greyscale, RGB or RGBA image (uint8 or 0..1 floats) with dark
    ink on light paper or light ink on a dark ground: the contrast to the paper (the median), divided by
    the strongest contrast, faint texture below 8% of it dropped; all zeros when there is no ink."""
    return _ink_batch(np.asarray(image)[None])[0]


def stroke_widths(ink: np.ndarray) -> np.ndarray:
    """(N,) mean stroke width in pixels of (N, H, W) soft ink images: 2 · ink area / edge length (a stroke
    of width w and length L has area wL and two edges of length L), edges as the gradient magnitude."""
    padded = np.pad(np.asarray(ink, np.float32), ((0, 0), (1, 1), (1, 1)))
    gy, gx = np.diff(padded, axis=1)[:, :, :-1], np.diff(padded, axis=2)[:, :-1]
    edge = np.sqrt(gx ** 2 + gy ** 2).sum(axis=(1, 2))
    return np.where(edge > 0, 2.0 * padded.sum(axis=(1, 2)) / np.maximum(edge, 1e-12), 0.0)


def stroke_width(ink: np.ndarray) -> float:
    """Mean stroke width in pixels of one (H, W) soft ink image (see `stroke_widths`)."""
    return float(stroke_widths(np.asarray(ink)[None])[0])


def _area_weights(start: np.ndarray, step: np.ndarray, count: int, source: int) -> np.ndarray:
    """(N, count, source) weights of area averaging: output pixel k covers [start + k·step, start + (k+1)·step)
    of the source axis; each weight is the overlap with a source pixel over the output pixel's length."""
    low = start[:, None, None] + step[:, None, None] * np.arange(count)[None, :, None]
    j = np.arange(source)[None, None, :]
    overlap = np.clip(np.minimum(low + step[:, None, None], j + 1) - np.maximum(low, j), 0.0, None)
    return (overlap / step[:, None, None]).astype(np.float32)


def _fit_ink(ink: np.ndarray, size: int, margin: float) -> np.ndarray:
    """(N, size, size): each (N, H, W) ink image cropped to its bounding box, centred and scaled so its
    longer side spans size·(1 − 2·margin), area-averaged, with strokes thinner than an output pixel
    brought back to full strength (a hairline over four pixels would otherwise fade to a quarter)."""
    n, h, w = ink.shape
    strong = ink > 0.2
    rows, cols = strong.any(axis=2), strong.any(axis=1)
    empty = ~rows.any(axis=1)
    y0, y1 = rows.argmax(axis=1), h - rows[:, ::-1].argmax(axis=1)
    x0, x1 = cols.argmax(axis=1), w - cols[:, ::-1].argmax(axis=1)
    side = np.maximum(np.maximum(y1 - y0, x1 - x0), 2).astype(np.float64)
    step = side / (size * (1 - 2 * margin))  # source pixels per output pixel
    ry = _area_weights((y0 + y1) / 2.0 - step * size / 2, step, size, h)
    rx = _area_weights((x0 + x1) / 2.0 - step * size / 2, step, size, w)
    small = ry @ ink @ rx.transpose(0, 2, 1)
    coverage = np.minimum(1.0, stroke_widths(ink) / step)  # how much a stroke fills the pixels it crosses
    small = np.clip(small / np.maximum(coverage, 0.05)[:, None, None], 0.0, 1.0)
    small[empty] = 0.0
    return small.astype(np.float32)


def _thinning_tables() -> np.ndarray:
    """(2, 256) bool: for each 8-neighbourhood code (bit i = neighbour P(i+2), clockwise from north),
    whether Zhang–Suen's first / second sub-iteration removes the centre pixel."""
    bits = (np.arange(256)[:, None] >> np.arange(8)[None, :]) & 1
    count = bits.sum(axis=1)
    transitions = ((1 - bits) & np.roll(bits, -1, axis=1)).sum(axis=1)
    north, east, south, west = bits[:, 0], bits[:, 2], bits[:, 4], bits[:, 6]
    common = (count >= 2) & (count <= 6) & (transitions == 1)
    first = common & ((north & east & south) == 0) & ((east & south & west) == 0)
    second = common & ((north & east & west) == 0) & ((north & south & west) == 0)
    return np.stack([first, second])


_THINNING = _thinning_tables()


def thin(binary: np.ndarray) -> np.ndarray:
    """Zhang–Suen thinning of (N, H, W) (or (H, W)) boolean images to 1-px skeletons. Every sub-iteration
    works on all the ink pixels of the batch at once: a neighbourhood code per pixel, looked up in a table."""
    binary = np.asarray(binary, bool)
    single = binary.ndim == 2
    image = np.pad(binary[None] if single else binary, ((0, 0), (1, 1), (1, 1)))
    flat = image.astype(np.uint8).ravel()
    row = image.shape[2]
    offsets = np.array([-row, -row + 1, 1, row + 1, row, row - 1, -1, -row - 1])  # P2..P9, clockwise from north
    ink = np.flatnonzero(flat)
    while True:
        changed = False
        for table in _THINNING:
            code = np.zeros(len(ink), np.uint8)
            for bit, offset in enumerate(offsets):
                code |= flat[ink + offset] << bit
            remove = table[code]
            if remove.any():
                flat[ink[remove]] = 0
                ink = ink[~remove]
                changed = True
        if not changed:
            break
    out = flat.reshape(image.shape)[:, 1:-1, 1:-1].astype(bool)
    return out[0] if single else out


def draw_with_pen(skeletons: np.ndarray, pen_width: float) -> np.ndarray:
    """(N, H, W) 1-px skeletons drawn with a round, anti-aliased pen `pen_width` pixels wide."""
    reach = int(np.ceil(pen_width / 2 + 0.5))
    padded = np.pad(skeletons.astype(np.float32), ((0, 0), (reach, reach), (reach, reach)))
    h, w = skeletons.shape[1:]
    out = np.zeros(skeletons.shape, np.float32)
    for dy in range(-reach, reach + 1):
        for dx in range(-reach, reach + 1):
            strength = float(np.clip(pen_width / 2 + 0.5 - np.hypot(dy, dx), 0.0, 1.0))
            if strength > 0:
                shifted = padded[:, reach + dy:reach + dy + h, reach + dx:reach + dx + w]
                np.maximum(out, strength * shifted, out=out)
    return out


def normalize_sketches(images, size: int = SKETCH_SIZE, pen_width: float | None = None,
                       margin: float = MARGIN) -> np.ndarray:
    """(N, size, size) float32 normalised sketches from a sequence of images (each any size, greyscale or
    RGB(A), either polarity): ink cropped, centred, fitted, area-averaged, thinned and redrawn with one pen.
    Filled regions (strokes wider than an eighth of the side) are replaced by their outline. Images of one
    shape are processed together."""
    if not 16 <= size <= 512:
        raise ValueError(f"A normalised sketch must be 16 to 512 pixels wide, not {size}")
    pen_width = PEN_WIDTH * size / SKETCH_SIZE if pen_width is None else float(pen_width)
    arrays = [np.asarray(image) for image in images]
    fitted = np.zeros((len(arrays), size, size), np.float32)
    by_shape: dict = {}
    for i, a in enumerate(arrays):
        by_shape.setdefault(a.shape, []).append(i)
    for shape, members in by_shape.items():
        if len(shape) < 2 or min(shape[:2]) < 1:
            raise ValueError(f"A sketch image must be at least 1 × 1 pixels (H × W [× channels]), not {shape}")
        fitted[members] = _fit_ink(_ink_batch(np.stack([arrays[i] for i in members])), size, margin)
    binary = fitted > 0.4
    filled = stroke_widths(fitted) > size / 8
    if filled.any():
        binary[filled] = contour(binary[filled]).astype(bool)
    return draw_with_pen(thin(binary), pen_width)


def normalize_sketch(image, size: int = SKETCH_SIZE, pen_width: float | None = None,
                     margin: float = MARGIN) -> np.ndarray:
    """(size, size) float32: one sketch image normalised as `normalize_sketches` does."""
    return normalize_sketches([image], size, pen_width, margin)[0]


def stroke_statistics(sketches: np.ndarray) -> dict:
    """Medians over (N, H, W) normalised sketches: ink fraction (share of pixels over 0.5), stroke width
    (px) and stroke ends per sketch (skeleton pixels with one neighbour)."""
    sketches = np.asarray(sketches, np.float32)
    skeleton = thin(sketches > 0.5)
    padded = np.pad(skeleton, ((0, 0), (1, 1), (1, 1))).astype(np.int8)
    h, w = skeleton.shape[1:]
    neighbours = sum(padded[:, 1 + dy:1 + dy + h, 1 + dx:1 + dx + w]
                     for dy in (-1, 0, 1) for dx in (-1, 0, 1) if dy or dx)
    return {"ink_fraction": float(np.median((sketches > 0.5).mean(axis=(1, 2)))),
            "stroke_width": float(np.median([stroke_width(s) for s in sketches])),
            "ends": float(np.median((skeleton & (neighbours == 1)).sum(axis=(1, 2))))}


# --------------------------------------------------------------------------------------------
# Synthetic sketches from line drawings
# --------------------------------------------------------------------------------------------


def contour(mask: np.ndarray) -> np.ndarray:
    """The outline of a silhouette (or of each of (N, H, W) silhouettes): mask pixels with a background
    neighbour."""
    mask = np.asarray(mask, bool)
    pad = ((1, 1), (1, 1)) if mask.ndim == 2 else ((0, 0), (1, 1), (1, 1))
    padded = np.pad(mask, pad)
    interior = padded[..., :-2, 1:-1] & padded[..., 2:, 1:-1] & padded[..., 1:-1, :-2] & padded[..., 1:-1, 2:]
    return (mask & ~interior).astype(np.float32)


def _splat(x, y, weight, size) -> np.ndarray:
    """Points drawn into a size × size image with bilinear weights (soft, no holes between neighbours)."""
    image = np.zeros(size * size, np.float32)
    x0, y0 = np.floor(x).astype(np.int64), np.floor(y).astype(np.int64)
    fx, fy = x - x0, y - y0
    for ox, oy, wt in ((0, 0, (1 - fx) * (1 - fy)), (1, 0, fx * (1 - fy)), (0, 1, (1 - fx) * fy), (1, 1, fx * fy)):
        xi, yi = x0 + ox, y0 + oy
        inside = (xi >= 0) & (xi < size) & (yi >= 0) & (yi < size)
        np.add.at(image, yi[inside] * size + xi[inside], (weight * wt)[inside])
    return np.clip(image.reshape(size, size), 0.0, 1.0)


def _wobble(x, y, amplitude, size, rng):
    """A smooth random displacement: a few low-frequency waves in each direction."""
    for _ in range(3):
        k = rng.uniform(0.5, 3.0, 2) * 2 * np.pi / size
        phase = rng.uniform(0, 2 * np.pi, 2)
        x = x + amplitude / 3 * np.sin(k[0] * y + phase[0])
        y = y + amplitude / 3 * np.sin(k[1] * x + phase[1])
    return x, y


def hand_drawn(lines: np.ndarray, rng: np.random.Generator, wobble: float = 1.5, gap: float = 0.15,
               strength: float = 1.0) -> np.ndarray:
    """A line image redrawn as by hand, same size: a perspective tilt and an affine turn, stretch and shear,
    a smooth wobble of about `wobble` pixels (per 64 px of side), partial strokes (about `gap` of the ink
    lifted in short gaps, sometimes a whole region left out), over-sketching (a part drawn twice, slightly
    offset) and a pen from hairline to broad. `strength` scales the distortions (0: a clean copy)."""
    lines = np.asarray(lines, np.float32)
    size = lines.shape[0]
    ys, xs = np.nonzero(lines > 0.5)
    if not len(xs):
        return np.zeros_like(lines)
    unit = size / 64.0
    # four points per ink pixel, so stretched lines stay unbroken
    sub = np.array([[-0.25, -0.25], [0.25, -0.25], [-0.25, 0.25], [0.25, 0.25]])
    x = (xs[:, None] + sub[:, 0]).ravel()
    y = (ys[:, None] + sub[:, 1]).ravel()
    centre = (size - 1) / 2.0
    u, v = (x - centre) / size, (y - centre) / size
    # perspective: a small random homography around the centre (a page seen slightly obliquely)
    tilt = rng.normal(0, 0.25 * strength, 2)
    angle = rng.normal(0, 0.1 * strength)
    stretch = np.exp(rng.normal(0, 0.08 * strength, 2))
    shear = rng.normal(0, 0.08 * strength)
    c, s = np.cos(angle), np.sin(angle)
    affine = np.array([[c, -s], [s, c]]) @ np.array([[stretch[0], shear], [0, stretch[1]]])
    scale = rng.uniform(0.85, 1.05)
    depth = 1 + tilt[0] * u + tilt[1] * v
    u, v = (affine[0, 0] * u + affine[0, 1] * v) / depth, (affine[1, 0] * u + affine[1, 1] * v) / depth
    shift = rng.normal(0, 0.03 * size * strength, 2)
    x, y = u * size * scale + centre + shift[0], v * size * scale + centre + shift[1]
    x, y = _wobble(x, y, wobble * unit * strength, size, rng)
    keep = np.ones(len(x), bool)
    holes = rng.uniform(0, size, (max(1, int(round(gap * 12 * strength))), 2))
    for hx, hy in holes:  # the pen lifted here and there
        keep &= (x - hx) ** 2 + (y - hy) ** 2 > (0.05 * size) ** 2
    if rng.random() < 0.3 * strength:  # a part never drawn: everything beyond a random line near the edge
        normal = rng.normal(size=2)
        normal /= np.linalg.norm(normal)
        along = (x - centre) * normal[0] + (y - centre) * normal[1]
        keep &= along < np.quantile(along, rng.uniform(0.8, 0.95))
    weight = np.full(len(x), 1.0)
    px, py, pw = [x[keep]], [y[keep]], [weight[keep]]
    if rng.random() < 0.5 * strength:  # over-sketching: a region traced a second time, a little off
        region = rng.uniform(0, size, 2)
        near = (x - region[0]) ** 2 + (y - region[1]) ** 2 < (rng.uniform(0.2, 0.45) * size) ** 2
        ox, oy = _wobble(x[near] + rng.normal(0, 1.0 * unit), y[near] + rng.normal(0, 1.0 * unit),
                         wobble * unit, size, rng)
        px.append(ox), py.append(oy), pw.append(np.full(near.sum(), rng.uniform(0.5, 1.0)))
    image = _splat(np.concatenate(px), np.concatenate(py), np.concatenate(pw), size)
    image = np.clip(image * 2.0, 0.0, 1.0)
    pen = rng.choice(3, p=[0.3, 0.4, 0.3])  # hairline, medium or broad pen
    if pen > 0:
        padded = np.pad(image, pen)
        image = np.maximum.reduce([padded[pen + dy:pen + dy + size, pen + dx:pen + dx + size]
                                   for dy in range(-pen, pen + 1) for dx in range(-pen, pen + 1)
                                   if dy * dy + dx * dx <= pen * pen])
    return image.astype(np.float32)


def line_tangents(lines: np.ndarray, reach: int = 2) -> np.ndarray:
    """(H, W) horizontality in -1..1 of each ink pixel's line (1: horizontal, -1: vertical, 0 off the ink):
    (Sxx − Syy) / (Sxx + Syy) of the offsets to the ink pixels within `reach` (a local structure tensor)."""
    ink = np.asarray(lines, np.float32) > 0.5
    padded = np.pad(ink, reach).astype(np.float32)
    h, w = ink.shape
    sxx, syy = np.zeros((h, w), np.float32), np.zeros((h, w), np.float32)
    for dy in range(-reach, reach + 1):
        for dx in range(-reach, reach + 1):
            if dy or dx:
                near = padded[reach + dy:reach + dy + h, reach + dx:reach + dx + w]
                sxx += near * dx * dx
                syy += near * dy * dy
    return np.where(ink, (sxx - syy) / np.maximum(sxx + syy, 1e-6), 0.0).astype(np.float32)


def without_caps(lines: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    """A line image with its caps left out, as people often draw only the sides of an outline (a vase's
    two profile curves, no rim or foot): the near-horizontal lines (within ~30°) in a band at the top
    and/or at the bottom of the ink (a random 15–35% of its height each) are rubbed out."""
    lines = np.asarray(lines, np.float32)
    ys = np.flatnonzero((lines > 0.5).any(axis=1))
    if len(ys) < 4:
        return lines.copy()
    top, bottom = ys[0], ys[-1]
    height = bottom - top + 1
    row = np.arange(lines.shape[0])[:, None]
    which = rng.choice(3, p=[0.6, 0.2, 0.2])  # both caps, only the top, only the bottom
    band = np.zeros((lines.shape[0], 1), bool)
    if which in (0, 1):
        band |= row < top + rng.uniform(0.15, 0.35) * height
    if which in (0, 2):
        band |= row > bottom - rng.uniform(0.15, 0.35) * height
    cap = band & (line_tangents(lines) > 0.5)
    grown = np.pad(cap, 1)  # and the pixels next to them, so no stubs of the caps are left
    h, w = cap.shape
    cap = np.max([grown[1 + dy:1 + dy + h, 1 + dx:1 + dx + w] for dy in (-1, 0, 1) for dx in (-1, 0, 1)], axis=0)
    return np.where(cap & band, 0.0, lines).astype(np.float32)


def with_slip(sketch: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    """A sketch with one stray straight stroke between two of its ink points, as a slip of the pen, a
    construction line or a stroke started where the pen last was (seen in the real window: a stroke
    joined by a straight chord to where the previous one ended)."""
    sketch = np.asarray(sketch, np.float32)
    ys, xs = np.nonzero(sketch > 0.5)
    if len(xs) < 2:
        return sketch.copy()
    a, b = rng.choice(len(xs), 2, replace=False)
    steps = int(np.ceil(np.hypot(xs[b] - xs[a], ys[b] - ys[a]) * 2)) + 1
    t = np.linspace(0.0, 1.0, steps)
    x, y = xs[a] + t * (xs[b] - xs[a]), ys[a] + t * (ys[b] - ys[a])
    return np.maximum(sketch, _splat(x, y, np.full(steps, 2.0), sketch.shape[0]))


def training_sketch(source: np.ndarray, rng: np.random.Generator, caps: float = 0.35,
                    slip: float = 0.15) -> np.ndarray:
    """One synthetic training sketch from a line drawing or outline: with probability `caps` its caps
    left out (`without_caps`), then `hand_drawn`, then with probability `slip` a stray stroke (`with_slip`)."""
    if rng.random() < caps:
        source = without_caps(source, rng)
    drawn = hand_drawn(source, rng)
    return with_slip(drawn, rng) if rng.random() < slip else drawn


def rasterize_strokes(strokes, size: int) -> np.ndarray:
    """Polylines [(n, 2) points, …] in any 2D units (y up), fitted into the image with a margin, drawn 1 px.
    Rasterise at a high resolution (e.g. 256) and pass the image to `normalize_sketch`."""
    strokes = [np.asarray(s, dtype=np.float64) for s in strokes if len(s)]
    if not strokes:
        raise ValueError("The sketch has no strokes; draw in the viewport (annotation tool) or load an image")
    points = np.concatenate(strokes)
    low, high = points.min(axis=0), points.max(axis=0)
    span = max(float((high - low).max()), 1e-9)
    scale = 0.8 * (size - 1) / span
    centre = (low + high) / 2.0
    image = np.zeros((size, size), np.float32)
    for stroke in strokes:  # strokes, not points: a handful
        p = (stroke - centre) * scale + (size - 1) / 2.0
        if len(p) == 1:
            p = np.repeat(p, 2, axis=0)
        steps = np.maximum(np.ceil(np.linalg.norm(np.diff(p, axis=0), axis=1) * 2).astype(int), 1)
        t = np.concatenate([np.linspace(0, 1, n, endpoint=False) for n in steps] + [[1.0]])
        segment = np.concatenate([np.full(n, i) for i, n in enumerate(steps)] + [[len(steps) - 1]])
        xy = p[segment] + t[:, None] * (p[segment + 1] - p[segment])
        xi, yi = np.round(xy[:, 0]).astype(int), np.round(size - 1 - xy[:, 1]).astype(int)  # y up in the sketch
        inside = (xi >= 0) & (xi < size) & (yi >= 0) & (yi < size)
        image[yi[inside], xi[inside]] = 1.0
    return image


def strokes_sketch(strokes, size: int = SKETCH_SIZE) -> np.ndarray:
    """(size, size) normalised sketch of polylines [(n, 2) points, …] (y up), as Search by Sketch makes
    one from annotation strokes: drawn at STROKE_RESOLUTION, then `normalize_sketch`."""
    return normalize_sketch(rasterize_strokes(strokes, STROKE_RESOLUTION), size)


# --------------------------------------------------------------------------------------------
# Views of library shapes chosen like people draw them
# --------------------------------------------------------------------------------------------


def sketch_directions() -> np.ndarray:
    """(8, 3) camera directions people draw objects from: front, 3/4 and side views at a low elevation
    (10°) round half the object, and front, 3/4 and side from a little above (35°). Mirror images are
    covered by searching the mirrored sketch too."""
    from . import shapespace

    ring_views = shapespace("views").ring_views
    low = ring_views(8, 10.0)[:5]  # azimuths 0, 45, 90, 135, 180
    high = ring_views(8, 35.0)[:3]
    return np.concatenate([low, high])


def library_drawings(meshes, directions=None, render_resolution: int = RENDER_RESOLUTION,
                     size: int = SKETCH_SIZE, progress=None, should_stop=None) -> dict:
    """Normalised 'lines' (line drawings: outlines, occluding contours, creases) and 'outlines' (the
    silhouette's outline only) of each mesh from each direction, each (N, V, size, size); None when
    should_stop() turned true. progress(done, total) after every mesh."""
    from . import shapespace

    render_views = shapespace("views").render_views
    directions = sketch_directions() if directions is None else np.asarray(directions, np.float64)
    lines, outlines = [], []
    for i, mesh in enumerate(meshes):
        if should_stop is not None and should_stop():
            return None
        views = render_views(mesh, directions, resolution=render_resolution)
        lines.append(normalize_sketches(views["lines"], size))
        outlines.append(normalize_sketches(contour(views["mask"]), size))
        if progress is not None:
            progress(i + 1, len(meshes))
    empty = np.zeros((0, len(directions), size, size), np.float32)
    return {"lines": np.asarray(lines, np.float32) if lines else empty,
            "outlines": np.asarray(outlines, np.float32) if lines else empty, "directions": directions}


# --------------------------------------------------------------------------------------------
# Networks (torch, imported lazily)
# --------------------------------------------------------------------------------------------


def _encoder_body(nn, size: int, embedding: int):
    """A small CNN: an average pool to 32 px (the normalised pen stays a soft 1-px line), three
    conv–batch-norm–ReLU–max-pool blocks (32, 64, 128 channels) and a linear embedding."""
    pool = max(1, size // 32)
    layers = [nn.AvgPool2d(pool)] if pool > 1 else []
    previous, side = 1, size // pool
    for width in (32, 64, 128):
        layers += [nn.Conv2d(previous, width, 3, padding=1), nn.BatchNorm2d(width), nn.ReLU(), nn.MaxPool2d(2)]
        previous, side = width, side // 2
    return nn.Sequential(*layers, nn.Flatten(), nn.Dropout(0.25), nn.Linear(previous * side * side, embedding))


def _unit(torch, x):
    return x / x.norm(dim=1, keepdim=True).clamp_min(1e-8)


def augment_sketches(torch, images, strength: float = 1.0):
    """(N, 1, H, W) sketches redrawn with a random perspective (homography), turn, stretch, shear, shift
    and mirror, and now and then a patch rubbed out: fresh for every batch."""
    F = torch.nn.functional
    n, _, h, w = images.shape
    rand = lambda *shape: torch.rand(*shape, dtype=images.dtype, device=images.device)  # noqa: E731
    angle = (rand(n) - 0.5) * 0.4 * strength
    scale = 1 + (rand(n, 2) - 0.5) * 0.3 * strength
    shear = (rand(n) - 0.5) * 0.3 * strength
    cos, sin = torch.cos(angle), torch.sin(angle)
    flip = torch.where(rand(n) < 0.5, -1.0, 1.0).to(images.dtype)
    m = torch.zeros(n, 3, 3, dtype=images.dtype, device=images.device)
    m[:, 0, 0], m[:, 0, 1] = cos * scale[:, 0] * flip, -sin * scale[:, 1] + shear
    m[:, 1, 0], m[:, 1, 1] = sin * scale[:, 0] * flip, cos * scale[:, 1]
    m[:, :2, 2] = (rand(n, 2) - 0.5) * 0.15 * strength
    m[:, 2, :2] = (rand(n, 2) - 0.5) * 0.3 * strength  # perspective
    m[:, 2, 2] = 1.0
    axis = dict(dtype=images.dtype, device=images.device)
    ys, xs = torch.meshgrid(torch.linspace(-1, 1, h, **axis), torch.linspace(-1, 1, w, **axis), indexing="ij")
    base = torch.stack([xs, ys, torch.ones_like(xs)], dim=-1).reshape(1, -1, 3)
    mapped = base @ m.transpose(1, 2)
    grid = (mapped[..., :2] / mapped[..., 2:].clamp_min(0.2)).reshape(n, h, w, 2)
    out = F.grid_sample(images, grid, align_corners=True, padding_mode="zeros")
    rub = rand(n) < 0.3 * strength  # a patch rubbed out: a stroke left unfinished
    if rub.any():
        cy, cx = (rand(n) * h).long(), (rand(n) * w).long()
        yy = torch.arange(h, device=images.device).view(1, h, 1)
        xx = torch.arange(w, device=images.device).view(1, 1, w)
        patch = ((yy - cy.view(n, 1, 1)).abs() < h // 8) & ((xx - cx.view(n, 1, 1)).abs() < w // 8)
        out = out * ~(patch & rub.view(n, 1, 1))[:, None]
    return out


@dataclass
class SketchEncoder:
    """A small CNN that tells sketches apart by class, trained on real doodles; its body embeds a
    normalised sketch (size × size) and starts the sketch branch of `SketchRetrieval`."""

    size: int
    classes: list
    net: object
    embedding: int = 128

    @classmethod
    def create(cls, classes, size: int = SKETCH_SIZE, embedding: int = 128, seed: int = 0):
        from .trainer import require_torch

        torch = require_torch("The sketch encoder")
        torch.manual_seed(seed)
        nn = torch.nn
        net = nn.Sequential(_encoder_body(nn, size, embedding), nn.ReLU(), nn.Linear(embedding, len(classes)))
        return cls(size, list(classes), net, embedding)

    @property
    def body(self):
        return self.net[0]

    def fit(self, sketches, labels, *, epochs: int = 8, batch_size: int = 32, learning_rate: float = 2e-3,
            seed: int = 0, device: str = "cpu", progress=None, should_stop=None):
        """Normalised sketches (N, size, size) and class indices (N,): cross-entropy (label smoothing 0.1)
        on augmented copies drawn fresh for every batch; the step size drops ×0.2 for the last quarter."""
        from .trainer import TrainConfig, require_torch, train

        torch = require_torch("The sketch encoder")
        F = torch.nn.functional

        def loss_fn(net, images, y):
            return F.cross_entropy(net(augment_sketches(torch, images[:, None])), y, label_smoothing=0.1)

        config = TrainConfig(optimizer="adam", learning_rate=learning_rate, epochs=epochs, batch_size=batch_size,
                             seed=seed, validation_fraction=0.0, init="keep", schedule="step", device=device,
                             step_epochs=max(1, int(round(0.75 * epochs))), step_factor=0.2)
        result = train(self.net, loss_fn, (np.asarray(sketches, np.float32), np.asarray(labels, np.int64)), config,
                       progress=progress, should_stop=should_stop)
        self.net.cpu()
        return result

    def scores(self, sketches) -> np.ndarray:
        """(N, classes) class scores (logits, averaged with the mirrored sketch's)."""
        from .trainer import require_torch

        torch = require_torch("The sketch encoder")
        self.net.eval()
        out = []
        with torch.no_grad():
            for start in range(0, len(sketches), 256):
                batch = torch.as_tensor(np.asarray(sketches[start:start + 256], np.float32))[:, None]
                out.append(((self.net(batch) + self.net(batch.flip(3))) / 2).numpy())
        return np.concatenate(out) if out else np.zeros((0, len(self.classes)), np.float32)

    def predict(self, sketches) -> np.ndarray:
        return self.scores(sketches).argmax(axis=1)


def build_two_branch(resolution: int, classes: int, embedding: int = 128):
    """Sketch and view branches (the encoder's CNN each) and one learned prototype per class."""
    from .trainer import require_torch

    torch = require_torch("Sketch retrieval")
    nn = torch.nn

    class TwoBranch(nn.Module):
        def __init__(self):
            super().__init__()
            self.sketch = _encoder_body(nn, resolution, embedding)
            self.view = _encoder_body(nn, resolution, embedding)
            self.prototypes = nn.Parameter(torch.randn(classes, embedding) * 0.1)

        def embed(self, images, branch):
            return _unit(torch, getattr(self, branch)(images[:, None]))

        def forward(self, sketches, views):
            return self.embed(sketches, "sketch"), self.embed(views, "view")

    return TwoBranch()


@dataclass
class SketchRetrieval:
    """Sketch search over a library: sketches and line-drawing views embedded by two branches so that
    both land on their class's prototype; a shape scores its best view's cosine to the sketch."""

    resolution: int
    net: object
    classes: int = 2
    info: dict = field(default_factory=dict)
    scale: float = 16.0  # cosine → logit for the prototype loss

    @classmethod
    def create(cls, resolution: int = SKETCH_SIZE, seed: int = 0, classes: int = 2,
               encoder: SketchEncoder | None = None):
        """A new two-branch network; with `encoder` (trained on doodles) both branches start from its CNN."""
        from .trainer import require_torch

        require_torch("Sketch retrieval").manual_seed(seed)
        retrieval = cls(resolution, build_two_branch(resolution, classes), classes)
        if encoder is not None:
            if encoder.size != resolution:
                raise ValueError(f"The sketch encoder works on {encoder.size}-px sketches, the search on "
                                 f"{resolution} px; train both at one size")
            state = encoder.body.state_dict()
            retrieval.net.sketch.load_state_dict(state)
            retrieval.net.view.load_state_dict(state)
            retrieval.info["encoder_classes"] = list(encoder.classes)
        return retrieval

    def fit(self, lines, labels, outlines=None, *, pairs: int = 4000, epochs: int = 10, batch_size: int = 32,
            learning_rate: float = 1e-3, seed: int = 0, device: str = "cpu", progress=None, should_stop=None,
            caps: float = 0.35, slip: float = 0.15):
        """lines (N, V, S, S) normalised line drawings of the library (and their `outlines`), labels (N,).
        `pairs` sketches in all, `pairs / epochs` drawn afresh in every epoch (`training_sketch` from a random
        view's lines or outline, normalised again: hand-drawn, a `caps` share with only the sides, a `slip`
        share with a stray stroke), each paired with a random view of a random shape of its class; both
        branches learn to land on their class's prototype (softmax over scaled cosines)."""
        from .trainer import TrainConfig, require_torch, train

        torch = require_torch("Sketch retrieval")
        F = torch.nn.functional
        lines = np.asarray(lines, np.float32)
        labels = np.asarray(labels, np.int64)
        sources = lines if outlines is None else np.concatenate([lines, np.asarray(outlines, np.float32)], axis=1)
        n, v = lines.shape[:2]
        if len(np.unique(labels)) < 2:
            raise ValueError("Sketch search needs shapes of two classes or more to learn from")
        rng = np.random.default_rng(seed)
        by_class = {c: np.flatnonzero(labels == c) for c in np.unique(labels)}
        view_images = torch.as_tensor(lines)
        scale = self.scale

        def loss_fn(net, anchor):
            shape, device = anchor.cpu().numpy(), anchor.device
            drawn = [training_sketch(sources[i, rng.integers(sources.shape[1])], rng, caps, slip) for i in shape]
            sketches = torch.as_tensor(normalize_sketches(drawn, self.resolution), device=device)
            partner = np.array([rng.choice(by_class[labels[i]]) for i in shape])
            views = view_images[partner, rng.integers(v, size=len(shape))].to(device)
            s, w = net(augment_sketches(torch, sketches[:, None], 0.5)[:, 0], views)
            prototypes = _unit(torch, net.prototypes)
            y = torch.as_tensor(labels[shape], device=device)
            return F.cross_entropy(scale * s @ prototypes.T, y) + F.cross_entropy(scale * w @ prototypes.T, y)

        anchors = np.resize(rng.permutation(n), max(batch_size, pairs // epochs)).astype(np.int64)
        config = TrainConfig(optimizer="adam", learning_rate=learning_rate, epochs=epochs, batch_size=batch_size,
                             seed=seed, validation_fraction=0.0, init="keep", schedule="step", device=device,
                             step_epochs=max(1, int(round(0.75 * epochs))), step_factor=0.2)
        result = train(self.net, loss_fn, (anchors,), config, progress=progress, should_stop=should_stop)
        self.net.cpu()
        return result

    def _embed(self, images, branch):
        from .trainer import require_torch

        torch = require_torch("Sketch retrieval")
        self.net.eval()
        out = []
        with torch.no_grad():
            for start in range(0, len(images), 256):
                batch = torch.as_tensor(np.asarray(images[start:start + 256], np.float32))
                out.append(self.net.embed(batch, branch).numpy())
        return np.concatenate(out)

    def library(self, lines) -> np.ndarray:
        """(N, V, E) view embeddings of the library's shapes from their normalised line drawings."""
        n, v = lines.shape[:2]
        return self._embed(lines.reshape((n * v,) + lines.shape[2:]), "view").reshape(n, v, -1)

    def search(self, sketch, library_embeddings, labels=None) -> np.ndarray:
        """Similarity of a normalised sketch (size × size) to each library shape, (N,): the best cosine over
        the shape's views and over the sketch and its mirror image; with the shapes' class `labels`, plus
        the sketch's cosine to the shape's class prototype (measured: 92 → 95% right class first)."""
        sketch = np.asarray(sketch, np.float32)
        if sketch.shape != (self.resolution, self.resolution):
            raise ValueError(f"The sketch is {sketch.shape[-1]} × {sketch.shape[0]} px; this sketch search takes "
                             f"normalised {self.resolution}-px sketches (normalize_sketch(image, "
                             f"{self.resolution}))")
        queries = self._embed(np.stack([sketch, sketch[:, ::-1]]), "sketch")
        similarity = np.einsum("nve,qe->nvq", library_embeddings, queries).max(axis=(1, 2))
        if labels is not None:
            prototypes = self.net.prototypes.detach().cpu().numpy()
            prototypes /= np.maximum(np.linalg.norm(prototypes, axis=1, keepdims=True), 1e-8)
            similarity = similarity + (prototypes[np.asarray(labels, np.int64)] @ queries.T).max(axis=1)
        return similarity

    def save(self, path, library_embeddings, names, labels, classes, *, collection="", metrics=None,
             directions=None):
        from .model_files import save_model_file

        arrays = {f"net.{k}": t.detach().cpu().numpy() for k, t in self.net.state_dict().items()}
        arrays |= {"library": np.asarray(library_embeddings, np.float32), "labels": np.asarray(labels, np.int64)}
        directions = sketch_directions() if directions is None else np.asarray(directions, np.float64)
        info = dict(self.info) | {"layout": SKETCH_LAYOUT, "resolution": self.resolution, "names": list(names),
                                  "classes": int(self.classes), "directions": directions.tolist(),
                                  "render_resolution": RENDER_RESOLUTION, "pen_width": PEN_WIDTH}
        return save_model_file(path, SKETCH_KIND, arrays, collection=collection, attribute_names=list(classes),
                               metrics=metrics or {}, info=info)

    @classmethod
    def load(cls, path):
        """(retrieval, library embeddings (N, V, E), metadata with the shapes' class 'labels' added)."""
        from .model_files import load_model_file
        from .trainer import require_torch

        torch = require_torch("Sketch retrieval")
        model = load_model_file(path, expected_kind=SKETCH_KIND)
        info = model.metadata["info"]
        if info.get("layout", 1) != SKETCH_LAYOUT:
            raise ValueError(f"'{path}' was trained with an older sketch layout (layout {info.get('layout', 1)}, "
                             f"this version reads {SKETCH_LAYOUT}); train it again (Train Sketch Search)")
        retrieval = cls.create(int(info["resolution"]), classes=int(info["classes"]))
        retrieval.net.load_state_dict({k[4:]: torch.as_tensor(v) for k, v in model.arrays.items()
                                       if k.startswith("net.")})
        retrieval.info = {k: v for k, v in info.items() if k == "encoder_classes"}
        metadata = dict(model.metadata) | {"labels": np.asarray(model.arrays["labels"], np.int64)}
        return retrieval, model.arrays["library"], metadata
