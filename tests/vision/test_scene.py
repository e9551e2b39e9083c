"""Scene.render on synthetic frames: bars where the notes are, the marker at the voice's pitch, hit parts lit, hands
drawn mirrored, score and lyrics on the picture, the pause overlay. The voice is a real shared-memory record."""
from __future__ import annotations

import uuid

import cv2
import numpy as np
import pytest

from game import handstate
from game.settings import Settings
from game.song import load
from vision import scene as sc
from vision.detector import Detection, Hand

GREY = 100


@pytest.fixture
def voice():
    rec = handstate.create_voice(f"testscene{uuid.uuid4().hex[:8]}")
    yield rec
    rec.close()


def plain_frame(settings) -> np.ndarray:
    return np.full((settings.height, settings.width, 3), GREY, np.uint8)


def colour_mask(img: np.ndarray, colour, tol: int = 0) -> np.ndarray:
    return np.abs(img.astype(np.int16) - np.array(colour, np.int16)).max(axis=-1) <= tol


def play(scene, voice, frame, t0: float, t1: float, pitch, fps: float = 30.0):
    """Render frames from t0 to t1 with the voice at pitch(t) -> (midi, amplitude); returns the last picture."""
    img = None
    for t in np.arange(t0, t1, 1.0 / fps):
        midi, amp = pitch(t)
        voice.write([t, midi, amp, 1.0])
        img = scene.render(frame, Detection([]), float(t), fps, 2.0)
    return img


def test_bars_are_drawn_where_the_notes_are(voice):
    settings = Settings(song="ode_to_joy")
    song = load(settings.song)
    scene = sc.Scene(settings, song, voice)
    g = scene.lane
    t = song.notes[8].start + 0.1
    img = scene.render(plain_frame(settings), Detection([]), t, 30.0, 2.0)
    expected = np.zeros(img.shape[:2], bool)
    golden = np.zeros(img.shape[:2], bool)
    for i in scene.notes.visible(t, t + g.ahead_s):
        x0, y0, x1, y1 = g.bar(song.notes[i].start, song.notes[i].end, song.notes[i].midi, t)
        target = golden if song.notes[i].kind == "golden" else expected
        target[y0:y1 + 1, max(x0, g.now_x + 3):x1 + 1] = True      # the bar, right of the now line
    ahead = np.zeros(img.shape[:2], bool)
    ahead[g.y0:g.y0 + g.height, g.now_x + 3:] = True
    drawn = colour_mask(img, sc.NOTE_AHEAD) & ahead
    assert expected.sum() > 1000
    assert (drawn & expected).sum() / expected.sum() > 0.97, "a bar is missing where a note is"
    assert (drawn & ~expected).sum() / expected.sum() < 0.03, "bar colour where there is no note"
    if golden.any():
        assert colour_mask(img, sc.GOLD_AHEAD)[golden].mean() > 0.97
    # one second later everything moved left by px_per_s
    img2 = scene.render(plain_frame(settings), Detection([]), t + 1.0, 30.0, 2.0)
    shift = int(round(g.px_per_s))
    moved = colour_mask(img2, sc.NOTE_AHEAD)[:, g.now_x + 3:img.shape[1] - shift]
    before = (drawn & expected)[:, g.now_x + 3 + shift:]
    assert (moved & before).sum() / before.sum() > 0.95


def marker_centre(img, scene, colour):
    g = scene.lane
    near = np.zeros(img.shape[:2], bool)
    near[g.y0:g.y0 + g.height, g.now_x - 15:g.now_x + 16] = True
    ys, xs = np.nonzero(colour_mask(img, colour) & near)
    return (float(xs.mean()), float(ys.mean()), len(ys)) if len(ys) else None


def test_marker_sits_at_the_voice_pitch(voice):
    settings = Settings(song="ode_to_joy", difficulty="medium")
    song = load(settings.song)
    scene = sc.Scene(settings, song, voice)
    g = scene.lane
    note = song.notes[3]                     # G4
    t = note.start + note.duration / 2
    frame = plain_frame(settings)
    seen = []
    for midi in (g.low_midi + 0.5, 60.3, note.midi - 3.4, g.high_midi - 0.2):   # all off the target: orange
        voice.write([t, midi, 0.8, 1.0])
        img = scene.render(frame, Detection([]), t, 30.0, 2.0)
        found = marker_centre(img, scene, sc.MARKER_OFF)
        assert found is not None, f"no marker for MIDI {midi}"
        x, y, n = found
        assert abs(x - g.now_x) <= 1.0 and abs(y - g.y_of(midi)) <= 1.0 and n > 50
        seen.append(y)
    assert seen == sorted(seen, reverse=True)                  # higher pitch, higher on the picture
    voice.write([t, note.midi + 0.4, 0.8, 1.0])               # on the target: lit like a hit note
    img = scene.render(frame, Detection([]), t, 30.0, 2.0)
    x, y, _ = marker_centre(img, scene, sc.NOTE_HIT)
    assert abs(y - g.y_of(note.midi + 0.4)) <= 1.0
    assert marker_centre(img, scene, sc.MARKER_OFF) is None
    voice.write([t, 60.0, 0.0, -1.0])                         # silent: only a grey ring, no filled marker
    img = scene.render(frame, Detection([]), t, 30.0, 2.0)
    assert marker_centre(img, scene, sc.MARKER_OFF) is None and marker_centre(img, scene, sc.NOTE_HIT) is None
    ring = marker_centre(img, scene, sc.SILENT)
    assert ring is not None and abs(ring[1] - g.y_of(60.0)) <= 1.0


def test_no_marker_before_the_synth_played():
    settings = Settings(song="twinkle")
    scene = sc.Scene(settings, load(settings.song), None)
    img = scene.render(plain_frame(settings), Detection([]), 3.0, 30.0)
    for colour in (sc.MARKER_OFF, sc.NOTE_HIT, sc.SILENT):
        assert marker_centre(img, scene, colour) is None
    g = scene.lane
    _, xs = np.nonzero(colour_mask(img[g.y0:g.y0 + g.height, g.now_x - 15:g.now_x + 16], sc.WHITE))
    assert np.all(np.abs(xs - 15) <= 1), "white beside the now line: a marker"


def test_hit_parts_lit_and_missed_parts_dim(voice):
    settings = Settings(song="ode_to_joy", difficulty="medium")
    song = load(settings.song)
    scene = sc.Scene(settings, song, voice)
    g = scene.lane
    k = 3
    n = song.notes[k]
    mid = n.start + n.duration / 2

    def pitch(t):       # on target for the note's first half, 3 semitones off for the second
        return (n.midi + 0.3 if t < mid else n.midi + 3.0), 0.8
    frame = plain_frame(settings)
    play(scene, voice, frame, n.start - 0.5, n.end, pitch)
    t_end = n.end + 0.25       # the whole note has passed the now line, still on screen
    voice.write([t_end, 40.0, 0.0, -1.0])
    img = scene.render(frame, Detection([]), t_end, 30.0, 2.0)
    x0, y0, x1, y1 = g.bar(n.start, n.end, n.midi, t_end)
    rows = slice(y0 + 1, y1)
    hit = colour_mask(img[rows], sc.NOTE_HIT).mean(axis=0)
    missed = colour_mask(img[rows], sc.NOTE_MISSED).mean(axis=0)
    xm = int(round(g.x_of(mid, t_end)))
    r = g.bar_px // 2 + 1
    frame_px = int(np.ceil(g.px_per_s / 30))     # judged once a frame: the lit part ends within a frame of mid
    assert hit[x0 + r:xm - frame_px].min() > 0.7, "the part played on pitch is not lit"
    assert missed[xm + frame_px:x1 - r].min() > 0.7, "the part played off pitch is not dim"
    assert hit[xm + frame_px:x1 - r].max() < 0.2 and missed[x0 + r:xm - frame_px].max() < 0.2
    assert scene.hits.hit_seconds(k) == pytest.approx(n.duration / 2, abs=0.05)


def test_score_counts_hits_and_is_drawn(voice):
    settings = Settings(song="twinkle", difficulty="easy")
    song = load(settings.song)
    scene = sc.Scene(settings, song, voice)
    frame = plain_frame(settings)
    first = song.notes[0]

    def pitch(t):
        note = song.note_at(t)
        return (note.midi + 0.5, 0.8) if note is not None and note.start < first.start + 1.6 else (50.0, 0.8)
    img = play(scene, voice, frame, 0.0, first.start + 3.2, pitch)
    score = scene.score.score
    assert 3500 < score < 6500        # hit for about half of the judged time
    text = str(score)
    size = scene.px(sc.BIG_PX)
    box = cv2.getTextSize((0, 0), text, (0, 0), scene.font, size, 700)
    tpl = np.zeros((size + 16, box[2] + 16), np.uint8)
    cv2.putText(tpl, text, (8, 8 + size - scene.px(4)), 255, scene.font, size, 700)
    bar = scene.px(sc.BAR_PX)
    area = cv2.cvtColor(img[settings.height - bar:, settings.width * 2 // 3:], cv2.COLOR_BGR2GRAY)
    match = cv2.minMaxLoc(cv2.matchTemplate(area, tpl, cv2.TM_CCOEFF_NORMED))[1]
    assert match > 0.9, f"score {text} not drawn at the bottom right (match {match:.2f})"


def test_hands_drawn_mirrored():
    settings = Settings()
    scene = sc.Scene(settings, load("twinkle"), None)
    w = settings.width
    box = Hand(0.05, 0.7, 0.5, (100, 200, 120, 150), 0.9)
    img = scene.render(plain_frame(settings), Detection([box]), 3.0, 30.0)
    x, y, bw, bh = sc.mirrored_box(box.box, w)
    assert x == w - 100 - 120
    assert colour_mask(img[y + 10:y + bh - 10, x:x + sc.BOX_PX], sc.PITCH_HAND).all()
    assert not colour_mask(img[y + 10:y + bh - 10, 100:100 + sc.BOX_PX], sc.PITCH_HAND).any()

    landmarks = np.array([[150 + 8 * j, 300 - 6 * j] for j in range(21)], np.float32)
    mirrored = sc.mirrored_points(landmarks, w)
    np.testing.assert_allclose(mirrored[:, 0], w - 1 - landmarks[:, 0])
    np.testing.assert_allclose(mirrored[:, 1], landmarks[:, 1])
    pitch_hand = Hand(0.05, 0.7, 0.5, (150, 180, 160, 120), 0.9, "right", landmarks)
    volume_hand = Hand(0.05, 0.3, 0.5, (300, 240, 160, 120), 0.9, "left", landmarks + [150, 60])
    img = scene.render(plain_frame(settings), Detection([pitch_hand, volume_hand]), 3.0, 30.0)
    green, pink = colour_mask(img, sc.PITCH_HAND, 40), colour_mask(img, sc.VOLUME_HAND, 40)
    for j in (1, 6, 10):     # joints that are not fingertips: drawn in the hand's colour, on the mirrored side
        mx, my = np.round(mirrored[j]).astype(int)
        assert green[my - 1:my + 2, mx - 1:mx + 2].any()
        lx, ly = np.round(landmarks[j]).astype(int)
        assert not green[ly - 3:ly + 4, lx - 3:lx + 4].any()
        vx, vy = np.round(sc.mirrored_points(volume_hand.landmarks, w)[j]).astype(int)
        assert pink[vy - 1:vy + 2, vx - 1:vx + 2].any()


def test_render_reuses_one_buffer_and_pause_stops_judging(voice):
    settings = Settings(song="twinkle")
    song = load(settings.song)
    scene = sc.Scene(settings, song, voice)
    frame = plain_frame(settings)
    n = song.notes[0]
    a = play(scene, voice, frame, n.start, n.start + 0.3, lambda t: (n.midi, 0.8))
    b = scene.render(frame, Detection([]), n.start + 0.31, 30.0)
    assert a is b is scene.view
    before = scene.score.target_s
    bright = scene.view.mean()
    scene.paused = True
    play(scene, voice, frame, n.start + 0.32, n.start + 0.6, lambda t: (n.midi, 0.8))
    assert scene.score.target_s == before, "time judged while paused"
    assert scene.view.mean() < 0.7 * bright
    scene.paused = False
    play(scene, voice, frame, n.start + 0.62, n.start + 0.8, lambda t: (n.midi, 0.8))
    assert scene.score.target_s > before


@pytest.mark.parametrize("name", ["ode_to_joy", "twinkle", "frere_jacques"])
def test_lyrics_fit_and_keep_every_syllable(name):
    settings = Settings(song=name)
    song = load(name)
    scene = sc.Scene(settings, song, None)
    ly = scene.lyrics
    for phrase, xs in zip(ly.phrases, ly.offsets):
        assert xs[-1] <= settings.width - 2 * scene.px(16)
        assert xs == sorted(xs)
    text = "".join(p for phrase in ly.phrases for _, p in phrase)
    assert text.split() == " ".join(n.lyric for n in song.notes if n.lyric).replace("- ", "").split()
    for i, n in enumerate(scene.notes.notes):
        if n.lyric:
            k, j = ly.where[i]
            assert ly.phrases[k][j][0] == i


def test_count_in_draws_the_lane():
    settings = Settings(song="ode_to_joy")
    scene = sc.Scene(settings, load(settings.song), None)
    frame = plain_frame(settings)
    img = scene.count_in(frame, 2.0)
    g = scene.lane
    assert img[g.y0 + g.height // 2, g.x0 + 5:g.now_x - 5].mean() < GREY * 0.5     # the lane darkens the picture
    assert img[g.y0 + g.height + 60, 5].tolist() == [GREY] * 3                       # below it, the picture
    assert sc.count_in_text(2.0) == "get ready: 2"
