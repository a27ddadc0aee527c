"""Procedural RGBA clip generator for the demo model (deterministic from a seed, numpy only).

A clip is one shape or soft effect of one palette colour doing one motion over a transparent
(black) background, F frames of H x W pixels:
    rgb   float32 [F, H, W, 3] in [0, 1]: the colour composited over black (= colour * alpha),
    alpha float32 [F, H, W]    in [0, 1]: ground-truth coverage, soft edges, partial transparency,
and a caption from a small grammar: "a red star moving left", "blue sparks growing",
"a green smoke puff spinning".

Held-out (shape, colour, motion) combinations (HELDOUT) are never produced by train_clip().
"""
import math

import numpy as np

COLOURS = {  # name -> RGB in [0, 1]; far apart so "nearest palette colour" is well defined
    "red": (0.92, 0.12, 0.10), "orange": (1.00, 0.55, 0.05), "yellow": (0.98, 0.92, 0.15),
    "green": (0.15, 0.80, 0.20), "cyan": (0.10, 0.85, 0.90), "blue": (0.15, 0.25, 0.95),
    "purple": (0.62, 0.20, 0.85), "white": (0.96, 0.96, 0.96),
}
SHAPES = ["circle", "square", "triangle", "star", "ring", "smoke", "glow", "sparks"]
MOTIONS = ["left", "right", "up", "down", "grow", "shrink", "spin"]
SHAPE_WORDS = {"circle": "a {c} circle", "square": "a {c} square", "triangle": "a {c} triangle",
               "star": "a {c} star", "ring": "a {c} ring", "smoke": "a {c} smoke puff",
               "glow": "a {c} glow", "sparks": "{c} sparks"}
MOTION_WORDS = {"left": "moving left", "right": "moving right", "up": "moving up", "down": "moving down",
                "grow": "growing", "shrink": "shrinking", "spin": "spinning"}


def caption(shape, colour, motion):
    text = SHAPE_WORDS[shape].format(c=colour) + " " + MOTION_WORDS[motion]
    return "an " + text[2:] if text.startswith("a orange") else text


def _heldout():
    """32 fixed combinations, 4 per colour, every shape 4 times, translation/scale motions only."""
    out, cols, mots = [], list(COLOURS), MOTIONS[:6]
    for i in range(32):
        out.append((SHAPES[i % 8], cols[(i * 3 + i // 8) % 8], mots[(i * 5 + i // 8) % 6]))
    return sorted(set(out))


HELDOUT = _heldout()
TRAIN_COMBOS = [(s, c, m) for s in SHAPES for c in COLOURS for m in MOTIONS if (s, c, m) not in HELDOUT]


# ---- shape coverage: u, v = shape-local coordinates (radius 1 ~ shape size), px = pixels per unit ----

def _edge(d, px):
    """Signed distance (shape units, < 0 inside) -> soft coverage, ~1.2 px ramp."""
    return np.clip(0.5 - d * px / 1.2, 0.0, 1.0)


def _polygon_d(u, v, n, rad):
    """Distance-like field of a regular n-gon (apothem rad), first vertex up."""
    ang = np.arctan2(u, -v)
    sector = 2 * math.pi / n
    a = np.mod(ang + sector / 2, sector) - sector / 2
    return np.hypot(u, v) * np.cos(a) - rad


def _star_d(u, v):
    ang, r = np.arctan2(u, -v), np.hypot(u, v)
    t = np.abs(np.mod(ang * 5 / (2 * math.pi), 1.0) - 0.5) * 2  # 1 at the tips, 0 between
    return r - (0.45 + 0.55 * t ** 1.5)


def _solid(shape, u, v, px, rng_pts):
    r = np.hypot(u, v)
    if shape == "circle":
        return _edge(r - 0.9, px)
    if shape == "square":
        return _edge(np.maximum(np.abs(u), np.abs(v)) - 0.75, px)
    if shape == "triangle":
        return _edge(_polygon_d(u, v + 0.15, 3, 0.5), px)
    if shape == "star":
        return _edge(_star_d(u, v), px)
    if shape == "ring":
        return _edge(np.abs(r - 0.72) - 0.22, px)
    if shape == "glow":  # bright core, soft halo
        return np.clip(1.15 * np.exp(-(r / 0.75) ** 2 * 1.3), 0.0, 1.0)
    if shape == "smoke":  # a few soft lumps, partially transparent
        a = np.zeros_like(u)
        for (ox, oy, s) in rng_pts:
            a += np.exp(-(((u - ox) ** 2 + (v - oy) ** 2) / (s * s)))
        return np.clip(0.8 * a, 0.0, 0.85)
    if shape == "sparks":  # small bright dots around the centre
        a = np.zeros_like(u)
        for (ox, oy, s) in rng_pts:
            a = np.maximum(a, _edge(np.hypot(u - ox, v - oy) - s, px))
        return a
    raise ValueError(shape)


def _shape_params(shape, rng):
    if shape == "smoke":
        return [(rng.uniform(-0.45, 0.45), rng.uniform(-0.45, 0.45), rng.uniform(0.35, 0.55)) for _ in range(5)]
    if shape == "sparks":
        pts = []
        for k in range(7):
            ang = 2 * math.pi * k / 7 + rng.uniform(-0.3, 0.3)
            rad = rng.uniform(0.25, 0.95)
            pts.append((rad * math.sin(ang), -rad * math.cos(ang), rng.uniform(0.12, 0.2)))
        return pts
    return None


def _trajectory(motion, F, H, W, rng, span=None):
    """Per-frame centre (x, y) in pixels, size (pixels per unit) and rotation (radians).
    span = (L, off): the F frames are frames off .. off+F-1 of a motion that takes L frames (the
    same path, slower: a window of a long shot); None: the motion takes the F frames."""
    t = np.linspace(0.0, 1.0, F) if span is None else (span[1] + np.arange(F)) / (span[0] - 1.0)
    size = rng.uniform(0.13, 0.19) * min(H, W)
    cx, cy = rng.uniform(0.38, 0.62) * W, rng.uniform(0.38, 0.62) * H
    dist = rng.uniform(0.40, 0.52) * W
    rot0 = rng.uniform(0, 2 * math.pi)
    xs, ys, ss, rs = np.full(F, cx), np.full(F, cy), np.full(F, size), np.full(F, rot0)
    if motion in ("left", "right"):
        sgn = -1 if motion == "left" else 1
        xs = W / 2 - sgn * dist / 2 + sgn * dist * t + rng.uniform(-0.05, 0.05) * W
    elif motion in ("up", "down"):
        sgn = -1 if motion == "up" else 1
        ys = H / 2 - sgn * dist / 2 + sgn * dist * t + rng.uniform(-0.05, 0.05) * H
    elif motion in ("grow", "shrink"):
        small, big = size * 0.55, size * 1.6
        ss = small + (big - small) * (t if motion == "grow" else 1 - t)
    elif motion == "spin":
        rs = rot0 + rng.choice([-1, 1]) * t * rng.uniform(0.6, 1.0) * math.pi
    return xs, ys, ss, rs


def render(shape, colour, motion, seed, F=9, H=48, W=48, span=None):
    """One clip: (rgb [F,H,W,3], alpha [F,H,W], caption); span: see _trajectory."""
    rng = np.random.default_rng(seed)
    pts = _shape_params(shape, rng)
    xs, ys, ss, rs = _trajectory(motion, F, H, W, rng, span)
    gy, gx = np.mgrid[0:H, 0:W].astype(np.float64) + 0.5
    col = np.asarray(COLOURS[colour], np.float64) * rng.uniform(0.9, 1.0)
    alpha = np.zeros((F, H, W), np.float64)
    for f in range(F):
        dx, dy = (gx - xs[f]) / ss[f], (gy - ys[f]) / ss[f]
        c, s = math.cos(rs[f]), math.sin(rs[f])
        u, v = c * dx + s * dy, -s * dx + c * dy
        alpha[f] = _solid(shape, u, v, ss[f], pts)
    rgb = alpha[..., None] * col[None, None, None, :]
    return rgb.astype(np.float32), alpha.astype(np.float32), caption(shape, colour, motion)


def train_clip(index, seed=0, long_frac=0.0, F=9, long_min=1, **kw):
    """Training clip number `index` (any int): a train combination and a per-clip random layout.
    With probability long_frac the clip is a window of a long shot instead (a random F-frame span of
    the same motion stretched over L = long_min·F .. LONG_MAX·F frames, see _trajectory), so a model learns to
    continue a motion at the pace its first frames show (the `chain` strategy, issue #8); the
    combination and layout are the same as with long_frac 0."""
    rng = np.random.default_rng([seed, index])
    combo = TRAIN_COMBOS[int(rng.integers(len(TRAIN_COMBOS)))]
    span, r2 = None, np.random.default_rng([seed, index, 8])
    if long_frac > 0 and r2.random() < long_frac:
        L = int(r2.integers(long_min * F, LONG_MAX * F + 1))
        span = (L, int(r2.integers(0, L - F + 1)))
    return render(*combo, seed=int(rng.integers(2 ** 31)), F=F, span=span, **kw)


LONG_MAX = 4  # a long shot's motion spans at most 4 windows' worth of frames


def all_captions():
    return [caption(s, c, m) for s in SHAPES for c in COLOURS for m in MOTIONS]


if __name__ == "__main__":
    print(len(HELDOUT), "held out,", len(TRAIN_COMBOS), "train combos")
    for h in HELDOUT:
        print(" ", caption(*h))
