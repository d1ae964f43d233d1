#!/usr/bin/env python3
"""Makes the WebP test files of `qr/tests/qr_webp.rs` and the WebP fuzz seeds, with Pillow (libwebp),
independently of the Rust decoder under test.

    python3 -m venv /tmp/venv && /tmp/venv/bin/pip install pillow==13.0.0 qrcode==8.2
    /tmp/venv/bin/python qr/tests/webp/make_webp.py

- photo-lossy.webp / photo-lossless.webp: the photo qrcode-1/13 of the sample set (its text is
  qr-samples/qrcode-1/13.txt), saved as lossy (VP8, quality 80) and lossless (VP8L) WebP;
- code-alpha-lossless.webp / code-alpha-lossy.webp: an otpauth code (text in code.txt) rendered
  dark on a transparent background, as a browser shows it, saved lossless (VP8L with alpha) and
  lossy (VP8X with an ALPH chunk);
- fuzz/seeds/scan_image/code0.webp (lossless) and code1.webp (lossy): the PNG seeds, re-saved.
"""
from pathlib import Path

import qrcode
from PIL import Image

here = Path(__file__).resolve().parent
qr_dir = here.parent.parent
seeds = qr_dir.parent / "fuzz" / "seeds" / "scan_image"

OTPAUTH = "otpauth://totp/Nyckel:webp@example.org?secret=JBSWY3DPEHPK3PXP&issuer=Nyckel"

photo = Image.open(qr_dir / "tests" / "qr-samples" / "qrcode-1" / "13.png").convert("RGB")
photo.save(here / "photo-lossy.webp", "WEBP", quality=80, method=6)
photo.save(here / "photo-lossless.webp", "WEBP", lossless=True, method=6)

code = qrcode.QRCode(error_correction=qrcode.constants.ERROR_CORRECT_M, box_size=4, border=4)
code.add_data(OTPAUTH)
code.make(fit=True)
grey = code.make_image(fill_color="black", back_color="white").get_image().convert("L")
# Dark modules opaque black, light ones fully transparent (their colour left white).
rgba = Image.new("RGBA", grey.size, (255, 255, 255, 0))
rgba.putalpha(grey.point(lambda v: 255 - v))
rgba.paste((0, 0, 0), mask=grey.point(lambda v: 255 - v))
rgba.save(here / "code-alpha-lossless.webp", "WEBP", lossless=True, exact=False, method=6)
rgba.save(here / "code-alpha-lossy.webp", "WEBP", quality=80, alpha_quality=100, method=6)
(here / "code.txt").write_text(OTPAUTH)

Image.open(seeds / "code0.png").save(seeds / "code0.webp", "WEBP", lossless=True, method=6)
Image.open(seeds / "code1.png").save(seeds / "code1.webp", "WEBP", quality=75, method=6)
