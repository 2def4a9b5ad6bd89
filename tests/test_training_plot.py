"""Pictures of training: curves land where the data says, the best epoch is marked, and the PNG
decodes back to the same pixels."""

import struct
import time
import zlib

import numpy as np
import pytest

from learning.training_plot import PALETTE, curve_layout, plot_curves, png_bytes, to_blender_pixels, write_png


def overfitting_history(epochs=80):
    e = np.arange(1, epochs + 1)
    train = 2 * np.exp(-e / 15) + 0.05
    val = 2 * np.exp(-e / 15) + 0.1 + 0.002 * np.clip(e - 30, 0, None) ** 1.5
    return {"train_loss": train.tolist(), "val_loss": val.tolist(), "best_epoch": int(np.argmin(val)) + 1}


def near(pixel, color, tolerance=0.3) -> bool:
    return bool(np.abs(np.asarray(pixel[:3]) - np.asarray(color)).max() < tolerance)


def on_curve(image, layout, epoch, value, color) -> bool:
    """The pixel nearest the curve's point at this epoch, or one of its neighbours, has the color."""
    row, col = int(round(float(layout.y_of(value)))), int(round(float(layout.x_of(epoch))))
    return any(near(image[row + dr, col], color, 0.2) for dr in (-1, 0, 1))


def test_image_format():
    image = plot_curves(overfitting_history(), width=400, height=200)
    assert image.shape == (200, 400, 4) and image.dtype == np.float32
    assert image.min() >= 0 and image.max() <= 1 and np.all(image[..., 3] == 1)


@pytest.mark.parametrize("antialias", [True, False])
def test_curves_are_drawn_where_the_data_is(antialias):
    history = overfitting_history()
    image = plot_curves(history, antialias=antialias)
    layout = curve_layout(history)
    train, val = history["train_loss"], history["val_loss"]
    for epoch in range(3, 78, 5):
        assert on_curve(image, layout, epoch, train[epoch - 1], PALETTE["train"]), epoch
        if abs(val[epoch - 1] - train[epoch - 1]) > 0.05:  # where the curves do not overlap
            assert on_curve(image, layout, epoch, val[epoch - 1], PALETTE["val"]), epoch
    # Far from both curves (above them late in training) the plot is empty.
    col = int(round(float(layout.x_of(65))))
    row = int(round(float(layout.y_of(1.5))))
    assert near(image[row, col], PALETTE["plot"], 0.02) or near(image[row, col], PALETTE["grid"], 0.02)
    # Each curve's colour appears in most plot columns: a continuous line, not dots.
    columns_train = np.flatnonzero(np.all(np.abs(image[..., :3] - PALETTE["train"]) < 0.2, axis=2).any(axis=0))
    span = np.arange(int(layout.x_of(1)) + 1, int(layout.x_of(80)))
    assert np.isin(span, columns_train).mean() > 0.95


def test_best_epoch_is_marked():
    history = overfitting_history()
    best = history["best_epoch"]
    image = plot_curves(history)
    layout = curve_layout(history)
    col = int(round(float(layout.x_of(best))))
    column = image[layout.top:layout.bottom, col, :3]
    marked = np.all(np.abs(column - PALETTE["best"]) < 0.05, axis=1)
    assert 0.3 < marked.mean() < 0.8  # a dashed vertical line
    row = int(round(float(layout.y_of(history["val_loss"][best - 1]))))
    assert near(image[row, col], PALETTE["best"], 0.05)  # and a dot on the validation curve
    assert best == 40


def test_log_scale_straightens_exponential_decay():
    e = np.arange(1, 101)
    history = {"train_loss": (10.0 * 10 ** (-e / 25)).tolist(), "val_loss": [None] * 100}
    log_image = plot_curves(history, log_scale=True, legend=False)
    log_layout = curve_layout(history, log_scale=True)
    linear_image = plot_curves(history, legend=False)
    linear_layout = curve_layout(history)
    # On a log axis the midpoint of the chord from epoch 1 to 100 lies on the curve...
    col = int(round(float(log_layout.x_of(50.5))))
    first, last = history["train_loss"][0], history["train_loss"][-1]
    row = int(round((float(log_layout.y_of(first)) + float(log_layout.y_of(last))) / 2))
    assert any(near(log_image[row + d, col], PALETTE["train"], 0.25) for d in (-1, 0, 1))
    # ...on a linear axis it is far above it.
    row = int(round((float(linear_layout.y_of(first)) + float(linear_layout.y_of(last))) / 2))
    assert not any(near(linear_image[row + d, col], PALETTE["train"], 0.25) for d in (-1, 0, 1))
    assert not np.any(np.all(np.abs(log_image[..., :3] - PALETTE["val"]) < 0.1, axis=2))  # no validation curve


def test_empty_and_broken_histories_still_draw():
    empty = plot_curves({"train_loss": [], "val_loss": []}, width=128, height=64)
    assert empty.shape == (64, 128, 4)
    assert not np.any(np.all(np.abs(empty[..., :3] - PALETTE["train"]) < 0.1, axis=2))
    diverged = plot_curves({"train_loss": [1.0, 0.5, float("nan")], "val_loss": [1.2, float("inf"), None]})
    assert np.isfinite(diverged).all()
    with pytest.raises(ValueError, match="at least"):
        plot_curves({"train_loss": [1.0]}, width=10, height=10)


def test_long_histories_are_fast():
    history = {"train_loss": list(np.exp(-np.arange(5000) / 800)), "val_loss": list(np.exp(-np.arange(5000) / 700))}
    started = time.perf_counter()
    plot_curves(history)
    assert time.perf_counter() - started < 2.0


def parse_png(data: bytes):
    assert data[:8] == b"\x89PNG\r\n\x1a\n"
    chunks, offset = [], 8
    while offset < len(data):
        length, = struct.unpack(">I", data[offset:offset + 4])
        kind = data[offset + 4:offset + 8]
        body = data[offset + 8:offset + 8 + length]
        crc, = struct.unpack(">I", data[offset + 8 + length:offset + 12 + length])
        assert crc == zlib.crc32(kind + body) & 0xFFFFFFFF, kind
        chunks.append((kind, body))
        offset += 12 + length
    assert [k for k, _ in chunks][0] == b"IHDR" and chunks[-1][0] == b"IEND"
    width, height, depth, color_type, _, _, _ = struct.unpack(">IIBBBBB", chunks[0][1])
    channels = {0: 1, 2: 3, 6: 4}[color_type]
    raw = zlib.decompress(b"".join(body for kind, body in chunks if kind == b"IDAT"))
    rows = np.frombuffer(raw, dtype=np.uint8).reshape(height, 1 + width * channels)
    assert depth == 8 and np.all(rows[:, 0] == 0)  # filter type 0 on every row
    return rows[:, 1:].reshape(height, width, channels)


def test_png_decodes_to_the_same_pixels(tmp_path):
    image = plot_curves(overfitting_history(), width=300, height=150)
    path = write_png(tmp_path / "curves.png", image)
    pixels = parse_png(path.read_bytes())
    assert pixels.shape == (150, 300, 4)
    assert np.array_equal(pixels, np.round(image * 255).astype(np.uint8))
    gray = np.linspace(0, 1, 12, dtype=np.float32).reshape(3, 4)
    assert np.array_equal(parse_png(png_bytes(gray))[..., 0], np.round(gray * 255).astype(np.uint8))
    rgb = np.arange(24, dtype=np.uint8).reshape(2, 4, 3)
    assert np.array_equal(parse_png(png_bytes(rgb)), rgb)
    assert [p.name for p in tmp_path.iterdir()] == ["curves.png"]


def test_blender_pixel_order_is_bottom_row_first():
    image = np.zeros((3, 2, 4), np.float32)
    image[2, 0] = [0.1, 0.2, 0.3, 1.0]  # bottom-left in image order
    image[0, 1] = [0.9, 0.8, 0.7, 1.0]  # top-right
    flat = to_blender_pixels(image)
    assert flat.shape == (24,) and flat.dtype == np.float32
    assert np.allclose(flat[:4], [0.1, 0.2, 0.3, 1.0]) and np.allclose(flat[-4:], [0.9, 0.8, 0.7, 1.0])
