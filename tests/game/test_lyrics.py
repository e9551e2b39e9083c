"""game/lyrics.py: a line's words put back together from the syllables its notes carry (the summary email's line
ratings print them; they ran together as 'Freu-de,schö-nerGöt-ter-fun-ken' before)."""
from __future__ import annotations

from game.lyrics import line_text, marked
from game.song import load


def test_syllables_join_into_words():
    assert line_text(["Freu-", "de,", "schö-", "ner", "Göt-", "ter-", "fun-", "ken,"]) == "Freude, schöner Götterfunken,"
    assert line_text(["Row,", "", "row,", "row", "your", "boat"]) == "Row, row, row your boat"
    assert line_text(["E-"]) == "E-" and line_text(["-"]) == "" and line_text([]) == "" and line_text(["", ""]) == ""


def test_what_marked_makes_joins_back_to_the_text():
    pieces = ["Hel", "lo ", "~", "world", " a", "gain"]
    assert line_text(marked(pieces, [0] * 6)) == "Hello world again"


def test_a_word_going_on_into_the_next_line_keeps_its_hyphen():
    song = load("ode_to_joy")
    lines = [line_text([n.lyric for n in song.notes if n.line == li]) for li in range(2)]
    assert lines == ["Freude, schöner Götterfunken, Tochter aus Ely-", "sium, wir betreten feuertrunken, Himmlische, dein"]
