#!/usr/bin/env python3
"""Times ZXing-C++ (PyPI wheel `zxing-cpp`) on the exact grey images the Rust QR benchmark
wrote to target/qr-bench/, and prints one table: Nyckel, plain rqrr and ZXing-C++ side by side.

Usage: scripts/bench-qr-zxing.py [target/qr-bench]   (run `cargo bench -p nyckel-core --bench qr` first)
"""

import statistics
import sys
import time
from collections import defaultdict
from pathlib import Path

import numpy as np
import zxingcpp
from PIL import Image

FRAME_REPEATS = 31
SAMPLE_REPEATS = 3


def timed(image, repeats, **options):
    times, results = [], []
    for _ in range(repeats):
        start = time.perf_counter()
        results = zxingcpp.read_barcodes(image, **options)
        times.append((time.perf_counter() - start) * 1e3)
    return results, statistics.median(times)


def main():
    bench = Path(sys.argv[1] if len(sys.argv) > 1 else "target/qr-bench")
    manifest = [line.split("\t") for line in (bench / "manifest.tsv").read_text().splitlines() if line]
    ours = defaultdict(dict)  # engine -> name -> (hit, ms)
    for line in (bench / "results.tsv").read_text().splitlines():
        engine, folder, name, hit, ms = line.split("\t")
        ours[engine][name] = (int(hit), float(ms))

    zx = {}
    # Frames are also timed with ZXing-C++ looking for QR codes only (its defaults try every
    # 1D and 2D format), the fairer comparison with a QR-only scanner.
    zx_qr = {}
    parts = []
    for folder, rel, expected_hex in manifest:
        expected = bytes.fromhex(expected_hex).decode("utf-8") if expected_hex else None
        image = np.asarray(Image.open(bench / rel).convert("L"))
        name = Path(rel).stem
        repeats = FRAME_REPEATS if folder == "frame" else SAMPLE_REPEATS
        results, ms = timed(image, repeats)
        if folder == "qrcode-7":
            # The Python wheel exposes no structured-append index: join the parts in file order
            # (01-01..01-04 is the sequence order), which only flatters ZXing-C++.
            parts.append(results[0].text if results else "")
            zx.setdefault("merged", [0, []])[1].append(ms)
            continue
        hit = expected is not None and any(r.text == expected for r in results)
        zx[name] = (int(hit), ms)
        if folder == "frame":
            results, ms = timed(image, repeats, formats=zxingcpp.BarcodeFormat.QRCode)
            zx_qr[name] = (int(expected is not None and any(r.text == expected for r in results)), ms)
    if parts:
        expected = bytes.fromhex([m for m in manifest if m[0] == "qrcode-7"][0][2]).decode("utf-8")
        merged = "".join(parts)
        zx["merged"] = (int(merged == expected), statistics.median(zx["merged"][1]))

    def cell(hits, total, ms):
        return f"{hits}/{total} {ms:6.2f}"

    print()
    print("Same images, same run. decoded = exact expected text; ms = median per image (grey, in memory)")
    print(f"{'set':<22} {'Nyckel':>14} {'plain rqrr':>14} {'ZXing-C++':>14} {'time Nyckel/ZXing':>18}")
    folders = []
    for folder, rel, _ in manifest:
        if folder not in folders:
            folders.append(folder)
    for folder in folders:
        if folder == "frame":
            continue
        names = [Path(rel).stem for f, rel, _ in manifest if f == folder]
        if folder == "qrcode-7":
            names = ["merged"]
        row = []
        for engine, table in (("nyckel", ours["nyckel"]), ("rqrr", ours["rqrr"]), ("zxing", zx)):
            got = [table[n] for n in names if n in table]
            if not got:
                row.append((0, 0, float("nan")))
                continue
            row.append((sum(h for h, _ in got), len(names), statistics.median(ms for _, ms in got)))
        label = "qrcode-7 (merged)" if folder == "qrcode-7" else folder
        ratio = row[0][2] / row[2][2] if row[2][2] else float("nan")
        print(f"{label:<22} {cell(*row[0]):>14} {cell(*row[1]):>14} {cell(*row[2]):>14} {ratio:>17.2f}x")
    total = {e: 0 for e in ("nyckel", "rqrr", "zxing")}
    for folder, rel, _ in manifest:
        if folder.startswith("qrcode-") and folder != "qrcode-7":
            name = Path(rel).stem
            total["nyckel"] += ours["nyckel"].get(name, (0, 0))[0]
            total["rqrr"] += ours["rqrr"].get(name, (0, 0))[0]
            total["zxing"] += zx.get(name, (0, 0))[0]
    print(f"{'qrcode-1..4 total':<22} {total['nyckel']:>14} {total['rqrr']:>14} {total['zxing']:>14}")

    print()
    print(f"{'camera frame':<28} {'Nyckel':>16} {'plain rqrr':>12} {'ZXing-C++':>12} {'ZXing QR-only':>14} {'Nyckel/ZXing QR-only':>21}")
    for folder, rel, _ in manifest:
        if folder != "frame":
            continue
        name = Path(rel).stem
        found, ms = ours["nyckel"][name]
        rhit, rms = ours["rqrr"][name]
        zhit, zms = zx[name]
        qhit, qms = zx_qr[name]
        label = name.removeprefix("frame_")
        ours_cell = f"{found}/{FRAME_REPEATS} {ms:6.2f}"
        yes = lambda hit: "yes" if hit else "no"
        print(f"{label:<28} {ours_cell:>16} {yes(rhit):>3} {rms:7.2f} {yes(zhit):>3} {zms:7.2f} {yes(qhit):>4} {qms:8.2f} {ms / qms:>20.2f}x")
    print("(frames: Nyckel = frames of 31 in which the code was found, camera-mode scanner; yes/no = decoded)")


if __name__ == "__main__":
    main()
