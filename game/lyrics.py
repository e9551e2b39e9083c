"""Syllables as files store them -> our lyric convention (one syllable per note, '-' when the word goes on).

UltraStar and MIDI lyrics store syllables as pieces of running text: "Hel" + "lo " + "world": a word ends where a
piece ends with a space or the next one begins with one. `~` (UltraStar) holds the previous syllable over another
note. Our Note.lyric is the syllable alone, with a trailing '-' when the word continues on the next sung note, and ""
for a note that only holds the previous syllable: what the game window's karaoke line and the scorecard expect.
"""
from __future__ import annotations

HOLD = {"", "~", "_"}   # a note with no syllable of its own (UltraStar writes ~, our TOML format _)


def marked(pieces: list[str], lines: list[int], spaced: bool = True) -> list[str]:
    """Our lyric for each note from the raw `pieces` (as written, spaces kept) of notes in order, with each note's
    line: a word never runs on across lines. With `spaced` False (MIDI files whose pieces carry no spaces at all)
    every piece is a word unless it ends with '-'."""
    out: list[str] = []
    for i, raw in enumerate(pieces):
        text = raw.strip()
        if text in HOLD:
            out.append("")
            continue
        if text.endswith("-"):
            out.append(text)
            continue
        nxt = next((j for j in range(i + 1, len(pieces)) if pieces[j].strip() not in HOLD), None)
        goes_on = (spaced and nxt is not None and lines[nxt] == lines[i]
                   and not raw[-1:].isspace() and not pieces[nxt][:1].isspace())
        out.append(text + "-" if goes_on else text)
    return out


def line_text(syllables) -> str:
    """A sung line's words from its notes' lyrics in order: 'Freu-' 'de,' 'schö-' 'ner' -> 'Freude, schöner' (a
    syllable ending in '-' runs on into the next; holds, "", add nothing). A word that goes on into the next line
    keeps its hyphen: '... aus E- ly-' -> '... aus Ely-'."""
    syllables = list(syllables)
    text = ""
    for s in syllables:
        if s:
            text += s[:-1] if s.endswith("-") else s + " "
    last = next((s for s in reversed(syllables) if s), "")
    return text.strip() + ("-" if last.endswith("-") and len(last) > 1 else "")
