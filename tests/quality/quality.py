"""Quality program for the demo model: judges rendered RGBA frames against their prompts.

Input: ROOT/<any name>/prompt.txt (one caption of the demo grammar, ops/train/data.py) and
ROOT/<any name>/*.png (RGBA frames in name order), from tests/quality/sample_ref.py (Python
reference pipeline) or from `farm-worker render` (the C engine) alike. RGB is read as rendered
over the background (TransPixar's decoded RGB video; --premultiplied if the writer multiplied RGB
by alpha once more, as TransPixar's saved RGB is).

Per prompt:
  colour  the mean colour under alpha > 0.5 (un-premultiplied: sum RGB / sum alpha) is nearest the
          prompted palette colour;
  motion  the alpha-weighted centroid of the last two frames vs the first two moves the prompted
          way by > MOVE_FRAC of the frame and more along that axis than across; grow / shrink: the
          alpha area (sum of alpha) of the last two frames vs the first two > AREA_RATIO / < 1/that;
          spin: the centroid stays within MOVE_FRAC and the area within AREA_RATIO;
  align   IoU of the alpha matte (alpha > 0.5) with where the rendered colour differs from the
          background (max channel |RGB - background| > half the brightest channel of the clip's
          mean colour; background = median of the frame border), over all frames.
Targets (issue #7): colour >= 80 % of prompts, motion >= 75 %, mean IoU >= 0.7.

Run: python tests/quality/quality.py ROOT [--json OUT.json] [--contact SHEET.png] [--premultiplied]
Exit status 0 when all three targets are met, 1 when not, 2 on bad input.
"""
import argparse
import glob
import json
import os
import sys

import numpy as np
from PIL import Image, ImageDraw, ImageFont

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.join(HERE, "..", "..", "ops", "train"))
import data  # noqa: E402  (palette and grammar: one source of truth)

MOVE_FRAC, AREA_RATIO, IOU_MIN = 0.08, 1.25, 0.7
TARGETS = {"colour": 0.80, "motion": 0.75, "iou": IOU_MIN}
MOTION_AXIS = {"left": (0, -1), "right": (0, 1), "up": (1, -1), "down": (1, 1)}  # (axis x=0/y=1, sign)


def parse_caption(text):
    """'a red star moving left' -> (shape, colour, motion); ValueError if not in the grammar."""
    for s in data.SHAPES:
        for c in data.COLOURS:
            for m in data.MOTIONS:
                if data.caption(s, c, m) == text.strip():
                    return s, c, m
    raise ValueError("caption not in the demo grammar: %r" % text)


def load_clip(d, premultiplied):
    files = sorted(glob.glob(os.path.join(d, "*.png")))
    if len(files) < 2:
        raise ValueError("%s: fewer than 2 PNG frames" % d)
    px = np.stack([np.asarray(Image.open(f).convert("RGBA"), np.float64) / 255.0 for f in files])
    rgb, alpha = px[..., :3], px[..., 3]
    if premultiplied:  # undo one multiplication by alpha: back to "over black"
        rgb = np.where(alpha[..., None] > 1e-3, rgb / np.maximum(alpha[..., None], 1e-3), 0.0)
    return rgb, alpha


def mean_colour(rgb, alpha):
    m = alpha > 0.5
    if m.sum() == 0:
        return None
    return (rgb[m].sum(0) / alpha[m].sum()).clip(0, 1)


def nearest_colour(c):
    names = list(data.COLOURS)
    d = [np.sum((np.asarray(data.COLOURS[n]) - c) ** 2) for n in names]
    return names[int(np.argmin(d))]


def centroid_area(alpha):
    """alpha [T, H, W] -> centroids [T, 2] (x, y) in pixels, areas [T]."""
    gy, gx = np.mgrid[0:alpha.shape[1], 0:alpha.shape[2]] + 0.5
    area = alpha.sum((1, 2))
    safe = np.maximum(area, 1e-6)
    cx = (alpha * gx).sum((1, 2)) / safe
    cy = (alpha * gy).sum((1, 2)) / safe
    return np.stack([cx, cy], 1), area


def motion_ok(alpha, motion):
    cen, area = centroid_area(alpha)
    if area[:2].sum() < 1.0 or area[-2:].sum() < 1.0:
        return False, {"dx": 0.0, "dy": 0.0, "area_ratio": 0.0}
    move = cen[-2:].mean(0) - cen[:2].mean(0)
    ratio = float(area[-2:].sum() / area[:2].sum())
    size = float(max(alpha.shape[1:]))
    info = {"dx": float(move[0]), "dy": float(move[1]), "area_ratio": ratio}
    if motion in MOTION_AXIS:
        ax, sgn = MOTION_AXIS[motion]
        along, across = sgn * move[ax], abs(move[1 - ax])
        return bool(along > MOVE_FRAC * size and along > across), info
    if motion == "grow":
        return ratio > AREA_RATIO, info
    if motion == "shrink":
        return ratio < 1.0 / AREA_RATIO, info
    still = np.hypot(*move) < MOVE_FRAC * size and 1 / AREA_RATIO < ratio < AREA_RATIO
    return bool(still), info


def alignment_iou(rgb, alpha, colour):
    border = np.concatenate([rgb[:, 0], rgb[:, -1], rgb[:, :, 0], rgb[:, :, -1]], 1)   # [T, n, 3]
    bg = np.median(border, axis=1)[:, None, None, :]
    thr = 0.5 * (float(colour.max()) if colour is not None else 1.0)
    rgb_mask = np.abs(rgb - bg).max(-1) > thr
    a_mask = alpha > 0.5
    union = np.logical_or(rgb_mask, a_mask).sum()
    return float(np.logical_and(rgb_mask, a_mask).sum() / union) if union else 0.0


def judge(d, premultiplied):
    with open(os.path.join(d, "prompt.txt")) as f:
        prompt = f.read().strip()
    shape, colour, motion = parse_caption(prompt)
    rgb, alpha = load_clip(d, premultiplied)
    mc = mean_colour(rgb, alpha)
    got = nearest_colour(mc) if mc is not None else None
    mok, minfo = motion_ok(alpha, motion)
    return {"dir": os.path.basename(d), "prompt": prompt, "shape": shape, "colour": colour,
            "motion": motion, "colour_got": got, "colour_ok": got == colour,
            "mean_colour": None if mc is None else [round(float(x), 3) for x in mc],
            "motion_ok": mok, **{k: round(v, 3) for k, v in minfo.items()},
            "iou": round(alignment_iou(rgb, alpha, mc), 3)}


def summary(rows):
    n = len(rows)
    s = {"prompts": n,
         "colour": sum(r["colour_ok"] for r in rows) / n,
         "motion": sum(r["motion_ok"] for r in rows) / n,
         "iou": float(np.mean([r["iou"] for r in rows])),
         "iou_at_least_0.7": sum(r["iou"] >= IOU_MIN for r in rows) / n}
    s["pass"] = all(s[k] >= v for k, v in TARGETS.items())
    return s


def checker(h, w, cell=6):
    y, x = np.mgrid[0:h, 0:w]
    return np.where(((y // cell + x // cell) % 2)[..., None] == 0, 0.42, 0.26) * np.ones(3)


def contact_sheet(root, rows, path, premultiplied, scale=2, nshow=5):
    """One row per prompt: nshow frames over a checkerboard (premultiplied composite), caption."""
    font = ImageFont.load_default()
    tiles = []
    for r in rows:
        rgb, alpha = load_clip(os.path.join(root, r["dir"]), premultiplied)
        idx = np.linspace(0, rgb.shape[0] - 1, nshow).round().astype(int)
        bg = checker(rgb.shape[1], rgb.shape[2])
        frames = [rgb[i] * alpha[i][..., None] + (1 - alpha[i][..., None]) * bg for i in idx]
        strip = np.concatenate([np.pad(f, ((1, 1), (1, 1), (0, 0)), constant_values=1.0) for f in frames], 1)
        tiles.append(np.kron(strip, np.ones((scale, scale, 1))))
    w_img, cap_w = tiles[0].shape[1], 260
    sheet = Image.new("RGB", (w_img + cap_w, sum(t.shape[0] for t in tiles)), (255, 255, 255))
    draw, y = ImageDraw.Draw(sheet), 0
    for t, r in zip(tiles, rows):
        sheet.paste(Image.fromarray((t * 255).astype(np.uint8)), (0, y))
        mark = lambda ok: "ok" if ok else "--"  # noqa: E731
        draw.text((w_img + 6, y + 8), r["prompt"], fill=(0, 0, 0), font=font)
        draw.text((w_img + 6, y + 24), "colour %s  motion %s  IoU %.2f" % (
            mark(r["colour_ok"]), mark(r["motion_ok"]), r["iou"]), fill=(60, 60, 60), font=font)
        y += t.shape[0]
    sheet.save(path)


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("root")
    ap.add_argument("--json")
    ap.add_argument("--contact")
    ap.add_argument("--premultiplied", action="store_true")
    a = ap.parse_args()
    dirs = sorted(d for d in glob.glob(os.path.join(a.root, "*")) if os.path.isfile(os.path.join(d, "prompt.txt")))
    try:
        if not dirs:
            raise ValueError("no <dir>/prompt.txt under %s" % a.root)
        rows = [judge(d, a.premultiplied) for d in dirs]
    except (ValueError, OSError) as e:
        print("quality: %s" % e, file=sys.stderr)
        return 2
    s = summary(rows)
    for r in rows:
        print("%-40s colour %-6s %-3s motion %-3s (dx %+5.1f dy %+5.1f area x%.2f) IoU %.2f" % (
            r["prompt"], r["colour_got"], "ok" if r["colour_ok"] else "--", "ok" if r["motion_ok"] else "--",
            r["dx"], r["dy"], r["area_ratio"], r["iou"]))
    print("quality: %d prompts  colour %.1f%% (>= 80)  motion %.1f%% (>= 75)  mean IoU %.3f (>= 0.7)  "
          "IoU>=0.7 on %.1f%%  -> %s" % (s["prompts"], 100 * s["colour"], 100 * s["motion"], s["iou"],
                                          100 * s["iou_at_least_0.7"], "PASS" if s["pass"] else "FAIL"))
    if a.json:
        with open(a.json, "w") as f:
            json.dump({"summary": s, "prompts": rows}, f, indent=1)
    if a.contact:
        contact_sheet(a.root, rows, a.contact, a.premultiplied)
    return 0 if s["pass"] else 1


if __name__ == "__main__":
    sys.exit(main())
