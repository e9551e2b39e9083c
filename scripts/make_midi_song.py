"""Write the bundled MIDI example, assets/songs/jingle_bells.mid, with mido: `python scripts/make_midi_song.py`.

"Jingle Bells" (James Lord Pierpont, 1857; public domain), the chorus in G major, 4/4. The file shows what the MIDI
importer (game/midisong.py) reads: a conductor track with the title, the time signature and tempo changes (132 bpm,
slowing to 120 and 100 over the last two bars), a melody track with lyrics meta events and line ends, a bass line and
a chord track (the accompaniment; the chords are not one note at a time, the bass is lower, so the melody is picked
without --track), and a drum track on channel 10 (left out). One bar of hi-hat before the tune is its lead-in.
Running it again writes the same bytes.
"""
from __future__ import annotations

import sys
from pathlib import Path

import mido

ROOT = Path(__file__).resolve().parent.parent
OUT = ROOT / "assets" / "songs" / "jingle_bells.mid"
TPB = 480
BAR = 4 * TPB
LEAD_IN = BAR

# (note, beats, syllable): RP-026 style lyrics, '-' joins syllables, a trailing \r ends a line
VERSE_START = [("B4", 1, "Jin-"), ("B4", 1, "gle"), ("B4", 2, "bells,"),
               ("B4", 1, "jin-"), ("B4", 1, "gle"), ("B4", 2, "bells,"),
               ("B4", 1, "jin-"), ("D5", 1, "gle"), ("G4", 1.5, "all"), ("A4", 0.5, "the"),
               ("B4", 4, "way!\r")]
MELODY = VERSE_START + [
    ("C5", 1, "Oh"), ("C5", 1, "what"), ("C5", 1.5, "fun"), ("C5", 0.5, "it"),
    ("C5", 1, "is"), ("B4", 1, "to"), ("B4", 1, "ride"), ("B4", 0.5, "in"), ("B4", 0.5, "a"),
    ("B4", 1, "one-"), ("A4", 1, "horse"), ("A4", 1, "o-"), ("B4", 1, "pen"),
    ("A4", 2, "sleigh,"), ("D5", 2, "hey!\r"),
] + VERSE_START + [
    ("C5", 1, "Oh"), ("C5", 1, "what"), ("C5", 1, "fun"), ("C5", 1, "it"),
    ("C5", 1, "is"), ("B4", 1, "to"), ("B4", 1, "ride"), ("B4", 0.5, "in"), ("B4", 0.5, "a"),
    ("D5", 1, "one-"), ("D5", 1, "horse"), ("C5", 1, "o-"), ("A4", 1, "pen"),
    ("G4", 4, "sleigh!"),
]
# one chord a bar: (bass root, chord notes)
CHORDS = {"G": ("G2", ("G3", "B3", "D4")), "C": ("C3", ("G3", "C4", "E4")),
          "A7": ("A2", ("G3", "A3", "C#4", "E4")), "D7": ("D3", ("F#3", "A3", "C4", "D4"))}
BARS = ["G", "G", "G", "G", "C", "G", "A7", "D7", "G", "G", "G", "G", "C", "G", "D7", "G"]
TEMPOS = [(0, 132), (LEAD_IN + 14 * BAR, 120), (LEAD_IN + 15 * BAR, 100)]   # (tick, bpm)


def midi_number(name: str) -> int:
    letter, rest = name[0], name[1:]
    sharp = rest.startswith("#")
    octave = int(rest[1:] if sharp else rest)
    return 12 * (octave + 1) + "C D EF G A B".index(letter) + (1 if sharp else 0)


def _track(name: str, events: list[tuple[int, mido.Message | mido.MetaMessage]]) -> mido.MidiTrack:
    """A track from (absolute tick, message) events: sorted (note offs before note ons at the same tick)."""
    track = mido.MidiTrack([mido.MetaMessage("track_name", name=name, time=0)])
    order = {"note_off": 0, "lyrics": 1, "note_on": 2}
    now = 0
    for tick, msg in sorted(events, key=lambda e: (e[0], order.get(e[1].type, 1))):
        track.append(msg.copy(time=tick - now))
        now = tick
    track.append(mido.MetaMessage("end_of_track", time=0))
    return track


def _note(events, start: int, length: int, pitch: int, channel: int, velocity: int) -> None:
    events.append((start, mido.Message("note_on", channel=channel, note=pitch, velocity=velocity)))
    events.append((start + length, mido.Message("note_off", channel=channel, note=pitch, velocity=0)))


def build() -> mido.MidiFile:
    conductor = [(0, mido.MetaMessage("time_signature", numerator=4, denominator=4))]
    conductor += [(tick, mido.MetaMessage("set_tempo", tempo=mido.bpm2tempo(bpm))) for tick, bpm in TEMPOS]
    melody, tick = [], LEAD_IN
    for name, beats, syllable in MELODY:
        length = int(beats * TPB)
        _note(melody, tick, int(length * 0.9), midi_number(name), 0, 96)
        melody.append((tick, mido.MetaMessage("lyrics", text=syllable)))
        tick += length
    bass, chords = [], []
    for bar, chord in enumerate(BARS):
        root, notes = CHORDS[chord]
        start = LEAD_IN + bar * BAR
        for half in (0, 2 * TPB):
            _note(bass, start + half, int(2 * TPB * 0.9), midi_number(root), 1, 80)
        for name in notes:
            _note(chords, start, int(BAR * 0.95), midi_number(name), 2, 56)
    drums = []
    for beat in range(4 * (len(BARS) + 1)):
        _note(drums, beat * TPB, TPB // 4, 42, 9, 50 if beat % 2 else 70)   # closed hi-hat on every beat
    mid = mido.MidiFile(type=1, ticks_per_beat=TPB)
    mid.tracks.append(_track("Jingle Bells", conductor))
    mid.tracks.append(_track("Melody", melody))
    mid.tracks.append(_track("Bass", bass))
    mid.tracks.append(_track("Chords", chords))
    mid.tracks.append(_track("Drums", drums))
    return mid


def main(out: Path = OUT) -> int:
    build().save(str(out))
    print(f"wrote {out}")
    return 0


if __name__ == "__main__":
    sys.exit(main(Path(sys.argv[1]) if len(sys.argv) > 1 else OUT))
