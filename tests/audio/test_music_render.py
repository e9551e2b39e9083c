"""The rendered backing (no audio file): key and chords from the melody, the accompaniment when a song has one,
every part heard at its pitch in the rendered track, transposition, levels below the synth, and no clicks."""
from __future__ import annotations

import math

import numpy as np
import pytest

from audio import arrangement, harmony, instruments
from audio.music import PEAK, render_song
from game.settings import Settings
from game.song import Note, Song, load, midi_from_name

SETTINGS = Settings()
RATE = SETTINGS.sample_rate


def melody(bpm: float, bars: list[str], lead_in: float = 1.0) -> tuple[Note, ...]:
    """Notes from bars of space-separated note names, each a beat long (90% held), after lead_in seconds."""
    beat = 60.0 / bpm
    notes, t = [], lead_in
    for line, bar in enumerate(bars):
        for name in bar.split():
            notes.append(Note(round(t, 6), round(0.9 * beat, 6), midi_from_name(name), line=line))
            t += beat
    return tuple(notes)


def song_of(bars, bpm=120.0, accompaniment=()) -> Song:
    return Song("test", "", bpm, melody(bpm, bars), accompaniment=tuple(accompaniment))


def power_at(x: np.ndarray, hz: float) -> float:
    t = np.arange(x.size) / RATE
    return float(abs(np.sum(x * np.hanning(x.size) * np.exp(-2j * np.pi * hz * t))) ** 2)


def hz(midi: float) -> float:
    return 440.0 * 2.0 ** ((midi - 69.0) / 12.0)


def heard(x: np.ndarray, midi: float) -> float:
    """Power at a pitch over the power a semitone either side (>> 1: that note sounds)."""
    return power_at(x, hz(midi)) / max(power_at(x, hz(midi - 1)), power_at(x, hz(midi + 1)), 1e-18)


# ---- key and chords ------------------------------------------------------------------------------------------------
def test_key_of_a_major_and_of_a_minor_melody():
    major = song_of(["C4 E4 G4 E4", "F4 A4 G4 E4", "D4 F4 E4 D4", "C4 C4 C4 C4"])
    assert harmony.estimate_key(major) == harmony.Key(0, False)
    in_g = Song("g", "", 120.0, tuple(Note(n.start, n.duration, n.midi + 7) for n in major.notes))
    assert harmony.estimate_key(in_g) == harmony.Key(7, False)
    minor = song_of(["A4 C5 E5 C5", "D5 F5 E5 C5", "B4 D5 E5 G#4", "A4 A4 A4 A4"])
    key = harmony.estimate_key(minor)
    assert key == harmony.Key(0, True) and key.home == "vi"      # A minor: the chords of C major, at home on Am
    plan = harmony.chords(minor)
    assert plan[0].degree == "vi" and plan[-1].degree == "vi" and plan[0].tones == (9, 0, 4)


def test_each_bar_gets_the_chord_that_holds_its_notes():
    song = song_of(["C4 E4 G4 C5", "F4 A4 C5 A4", "G4 B4 D5 B4", "A4 C5 E5 C5", "G4 B4 D5 G4", "C5 G4 E4 C4"])
    plan = harmony.chords(song)
    bar = 4 * 0.5
    got = [next(c.degree for c in plan if c.start - 1e-6 <= 1.0 + i * bar + 0.1 < c.end) for i in range(6)]
    assert got == ["I", "IV", "V", "vi", "V", "I"]
    assert plan[0].start == pytest.approx(1.0) and plan[-1].end == pytest.approx(song.duration)
    assert all(a.end == pytest.approx(b.start) for a, b in zip(plan, plan[1:])), "chords follow without gaps"


def test_a_bar_whose_halves_want_different_chords_is_split():
    song = song_of(["C4 E4 G4 C5", "F4 A4 G4 B4", "C5 C5 C5 C5"])   # bar 2: F A (IV) then G B (V)
    plan = harmony.chords(song)
    degrees = [(round(c.start, 3), c.degree) for c in plan]
    assert (3.0, "IV") in degrees and (4.0, "V") in degrees, degrees


def test_a_bar_without_notes_keeps_the_chord_before():
    notes = melody(120.0, ["F4 A4 C5 A4"]) + tuple(Note(n.start + 4.0, n.duration, n.midi) for n in
                                                    melody(120.0, ["C4 E4 G4 C5"]))
    plan = harmony.chords(Song("rest", "", 120.0, notes))
    held = [c for c in plan if c.start <= 3.5 < c.end]
    assert held and held[0].degree == plan[0].degree


# ---- what the rendered track holds ---------------------------------------------------------------------------------
def test_rendered_backing_sounds_guide_bass_and_the_chord_tones():
    song = song_of(["C4 E4 G4 C5", "F4 F4 A4 A4", "G4 G4 B4 B4", "C5 C5 C5 C5"])
    x = render_song(song, SETTINGS).astype(np.float64)
    parts = {p.name: p for p in arrangement.parts(song, SETTINGS)}
    assert set(parts) == {"guide", "chords", "bass"}
    bar2 = x[int(3.15 * RATE):int(3.85 * RATE)]      # the F F of bar 2 (IV): F major, voiced around F3..E4
    chord = sorted({m for s, h, m in parts["chords"].notes if s <= 3.2 < s + h})
    assert sorted(int(m) % 12 for m in chord) == [0, 5, 9] and len(chord) == 3, chord
    for m in chord:
        assert heard(bar2, m) > 30, f"chord tone {m} not in the rendered bar"
    bass = [m for s, h, m in parts["bass"].notes if s <= 3.2 < s + h]
    assert bass == [41.0]                              # F2, the root
    assert heard(bar2, 41) > 30
    assert heard(bar2, midi_from_name("F4")) > 30      # the guide melody
    # a note of no part (F#3, C#4) is not there
    assert heard(bar2, 54) < 1 and heard(bar2, 61) < 1


def test_accompaniment_is_played_instead_of_derived_chords():
    bars = ["C4 E4 G4 C5", "F4 A4 C5 A4", "G4 B4 D5 B4", "C5 G4 E4 C4"]
    other = (Note(1.0, 3.8, midi_from_name("D#4")), Note(1.0, 3.8, midi_from_name("A#3")),   # not C major at all
             Note(1.0, 3.8, midi_from_name("C#2")))
    song = song_of(bars, accompaniment=other)
    parts = {p.name: p for p in arrangement.parts(song, SETTINGS)}
    assert set(parts) == {"guide", "accompaniment", "bass"}
    assert parts["bass"].notes == ((1.0, 3.8, float(midi_from_name("C#2"))),), "its own low notes are the bass"
    x = render_song(song, SETTINGS).astype(np.float64)
    seg = x[int(3.2 * RATE):int(3.9 * RATE)]
    for name in ("D#4", "A#3", "C#2"):
        assert heard(seg, midi_from_name(name)) > 30, name
    plain = render_song(song_of(bars), SETTINGS).astype(np.float64)[int(3.2 * RATE):int(3.9 * RATE)]
    assert heard(plain, midi_from_name("F2")) > 30 and heard(seg, midi_from_name("F2")) < 1, \
        "with an accompaniment the derived bass is not added"
    # an accompaniment without low notes gets the derived bass under it
    high_only = song_of(bars, accompaniment=other[:2])
    assert {p.name for p in arrangement.parts(high_only, SETTINGS)} == {"guide", "accompaniment", "bass"}
    assert arrangement.parts(high_only, SETTINGS)[-1].notes == arrangement.bass_line(high_only, SETTINGS)


def test_transpose_moves_every_part():
    song = song_of(["C4 E4 G4 C5", "F4 A4 C5 A4"], accompaniment=(Note(1.0, 2.0, 64),))
    up = Settings(transpose=5)
    plain, moved = arrangement.parts(song, SETTINGS), arrangement.parts(song, up)
    for a, b in zip(plain, moved):
        for (s1, h1, m1), (s2, h2, m2) in zip(a.notes, b.notes):
            assert (s1, h1) == (s2, h2)
            assert (m2 - m1) % 12 == 5 and (a.name == "bass" or m2 - m1 == 5), (a.name, m1, m2)
    derived = song_of(["C4 E4 G4 C5"])
    bass = arrangement.bass_line(derived, up)
    assert all(arrangement.BASS_LOW <= m < arrangement.BASS_LOW + 12 for _, _, m in bass)
    assert bass[0][2] % 12 == 5                        # C major's root moved up a fourth: F
    x = render_song(derived, up).astype(np.float64)[int(1.1 * RATE):int(1.4 * RATE)]
    assert heard(x, 60 + 5) > 30                       # the guide's C4 now sounds as F4


def test_levels_stay_below_the_synth_and_never_clip():
    song = load("ode_to_joy")
    x = render_song(song, SETTINGS)
    assert np.abs(x).max() <= PEAK * SETTINGS.music_volume + 1e-6
    rms = math.sqrt(float(np.mean(x[int(song.notes[0].start * RATE):int(song.duration * RATE)] ** 2)))
    synth_rms = SETTINGS.synth_volume / math.sqrt(2)  # the hand tone at full level is about a sine of that peak
    assert rms < 0.35 * synth_rms, f"backing RMS {rms:.3f} against the synth's {synth_rms:.3f}"
    loud = render_song(song_of(["C4 E4 G4 C5"], accompaniment=[Note(1.0, 2.0, m) for m in range(48, 80, 2)]),
                       Settings(music_volume=1.0))
    assert np.abs(loud).max() <= PEAK + 1e-6, "a thick accompaniment is scaled down, not clipped"
    assert not render_song(song, Settings(music_volume=0.0)).any()


# ---- clicks ---------------------------------------------------------------------------------------------------------
def boundaries(song, settings) -> list[float]:
    out = []
    for part in arrangement.parts(song, settings):
        for s, h, _ in part.notes:
            out += [s, s + h, s + h + part.instrument.release_s]
    return out


def click_ratio(x: np.ndarray, times: list[float]) -> tuple[float, float]:
    """Worst (second difference within 3 ms of a note boundary) / (largest second difference in the 100 ms after
    and before it, away from the boundary): a step or a corner at a boundary stands far above the waveform's own."""
    d2 = np.abs(np.diff(x.astype(np.float64), 2))
    worst, where = 0.0, None
    w, ctx = int(0.003 * RATE), int(0.1 * RATE)
    for t in times:
        b = int(round(t * RATE))
        if b - ctx < 0 or b + ctx >= d2.size:
            continue
        near = d2[b - w:b + w].max()
        body = max(d2[b + w:b + ctx].max(), d2[b - ctx:b - w].max(), 1e-9)
        if near / body > worst:
            worst, where = near / body, t
    return worst, where


@pytest.mark.parametrize("name", ["ode_to_joy", "accompanied"])
def test_no_clicks_at_note_starts_and_ends(name):
    if name == "accompanied":
        song = song_of(["C4 E4 G4 C5", "F4 A4 C5 A4", "G4 B4 D5 B4"],
                       accompaniment=[Note(1.0 + 0.25 * k, 0.2, 48 + (k * 5) % 24) for k in range(20)]
                       + [Note(1.0 + 0.5 * k, 0.45, 36 + k % 7) for k in range(10)])
    else:
        song = load(name)
    x = render_song(song, SETTINGS)
    worst, where = click_ratio(x, boundaries(song, SETTINGS))
    assert worst < 1.6, f"a click at {where:.3f} s: {worst:.1f} x the waveform's own second difference"


def test_the_click_check_finds_a_click():
    """The check above is not blind: a step of 0.01 (-40 dBFS) at a note's end fails it."""
    song = song_of(["C4 E4 G4 C5", "F4 A4 C5 A4"])
    x = render_song(song, SETTINGS).astype(np.float64)
    note = song.notes[5]
    a = int(round(note.end * RATE))
    clicky = x.copy()
    clicky[a:] -= 0.01                                # a step of 0.01 at the note's end
    assert click_ratio(x, [note.end])[0] < 1.6
    assert click_ratio(clicky, [note.end])[0] > 3.0


def test_every_note_starts_and_ends_at_zero():
    for inst in (instruments.GUIDE, instruments.BASS, instruments.PIANO):
        for midi in (30, 57, 81, 108):
            for held in (0.001, 0.05, 1.3):
                y = instruments.render_note(inst, midi, held, RATE)
                assert y[0] == 0.0 and abs(y[-1]) < 1e-3, (inst.name, midi, held)
                assert np.abs(y).max() <= 1.0 + 1e-6
