"""Fonts for the scorecard, so any player name prints without crashing the report.

DejaVu Sans (shipped with matplotlib, so nothing extra to install) covers Latin, Greek, Cyrillic and more. For what
it lacks, fpdf2 falls back glyph by glyph to: a CJK font when the system has one of a few well-known TTFs, then
matplotlib's Last Resort font, which draws a box naming the Unicode block of any character (so a Chinese name shows
as boxes rather than vanishing, and its real characters are still in the PDF's text layer, for search and copy).
Right-to-left scripts print their letters unshaped, in storage order.
"""
from __future__ import annotations

from pathlib import Path

FAMILY = "DejaVu"
# TTFs (fpdf2 reads no .ttc collections) that cover CJK, where distributions put them
SYSTEM_FALLBACKS = (
    "/usr/share/fonts/truetype/droid/DroidSansFallbackFull.ttf",
    "/usr/share/fonts/truetype/arphic-ukai/ukai.ttf",
    "/usr/share/fonts/truetype/unfonts-core/UnDotum.ttf",
    "/Library/Fonts/Arial Unicode.ttf",
    "C:/Windows/Fonts/arialuni.ttf",
)


def matplotlib_fonts() -> Path:
    import matplotlib
    return Path(matplotlib.get_data_path()) / "fonts" / "ttf"


CJK_FROM = 0x2E80    # CJK radicals onwards: nothing DejaVu covers; below it, DejaVu or Last Resort


def setup(pdf, text: str | None = None) -> list[str]:
    """Add DejaVu (regular, bold) and the fallbacks to an FPDF; returns the fallback families in use.

    ``text``: everything the scorecard will print that comes from outside (name, song, lyrics). A system CJK font
    takes a second or more to load (the Droid fallback is 4 MB), so it is only added when the text has a character
    from U+2E80 on, and Last Resort only when the text has one DejaVu lacks; None adds them whenever they are there."""
    fonts = matplotlib_fonts()
    pdf.add_font(FAMILY, "", str(fonts / "DejaVuSans.ttf"))
    pdf.add_font(FAMILY, "B", str(fonts / "DejaVuSans-Bold.ttf"))
    fallbacks = []
    wide = text is None or any(ord(c) >= CJK_FROM for c in text)
    # Last Resort maps every code point (1.1 million cmap entries): it took 1.3 s to load, half of a 3-minute
    # session's reports, so it is only added when the text has a character DejaVu does not draw
    covered = getattr(pdf.fonts.get(FAMILY.lower()), "cmap", None) or {}
    lacking = text is None or not covered or any(ord(c) >= 32 and ord(c) not in covered for c in set(text))
    candidates = ([Path(p) for p in SYSTEM_FALLBACKS] if wide else []) + \
        ([fonts / "LastResortHE-Regular.ttf"] if lacking else [])
    for i, path in enumerate(candidates):
        if not path.is_file():
            continue
        name = f"fallback{i}"
        try:
            pdf.add_font(name, "", str(path))
        except Exception:  # noqa: BLE001 - an unreadable system font only costs its glyphs
            continue
        fallbacks.append(name)
    if fallbacks:
        pdf.set_fallback_fonts(fallbacks, exact_match=False)
    return fallbacks
