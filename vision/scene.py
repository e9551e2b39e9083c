"""What the player sees, drawn into one reused picture: the mirrored camera view, the hands, the note lane with the
player's pitch on it, the target note, lyrics, score, fps and latency.

Drawing is kept apart from showing: the game window shows this picture and the session video records the very same
one, so this module uses OpenCV's drawing functions only (no highgui, no display) and runs headless.

Cost matters because the vision process draws after publishing each frame (vision/process.py): what does not change
(the lane's tint, pitch lines and labels, the lyric layout) is prepared once; each frame blends the lane in one pass
and draws only what moves: about 0.4 ms a 640x480 frame here (`python -m vision.scenebench`).
"""
from __future__ import annotations

import math

import cv2
import numpy as np

from game.song import note_name
from vision.lane import AUDIBLE, HitTrack, LaneGeometry, NoteTimes, PitchTrail, is_hit

# ---- colours (BGR) --------------------------------------------------------------------------------------------------
PITCH_HAND = (0, 255, 0)        # pure green: the pitch hand (the window tests find its box by this colour)
VOLUME_HAND = (200, 90, 255)    # pink: the volume hand
NOTE_AHEAD = (250, 200, 110)    # light blue: a note still to come
GOLD_AHEAD = (40, 200, 255)     # amber: a golden note still to come
NOTE_HIT = (120, 255, 150)      # mint: the parts of a note the player hit
GOLD_HIT = (160, 250, 255)      # pale yellow: the parts of a golden note hit
NOTE_MISSED = (110, 88, 72)     # slate: the parts that passed without a hit
MARKER_OFF = (50, 140, 255)     # orange: playing, but off the target
MARKER_FREE = (255, 255, 255)   # white: playing with no target note now
SILENT = (150, 150, 150)        # grey: the hand tone is silent
LANE_TINT = (34, 20, 12)        # navy added to the darkened picture under the lane
GRID = (70, 58, 52)             # a pitch line of the song's notes
LABEL = (175, 165, 160)         # pitch labels, captions
WHITE = (255, 255, 255)
TRAIL = (215, 215, 215)         # the played pitch's recent trace

# ---- layout, as fractions of the picture height (640x480 is the reference) -------------------------------------------
LANE_FRACTION = 0.34            # the lane: a band across the top of the picture
PICTURE_KEEP = 0.3              # how much of the camera picture shows through the lane and the panels
PAST_KEEP = 0.18                # ... through the lane's past part
BOX_PX = 3
BIG_PX = 36                     # target note name and score
LYRIC_PX = 26
SMALL_PX = 14
BAR_PX = 64                     # the bar across the bottom: lyrics and score
SCORE_W = 190                   # its right part, kept for the score
NEXT_WITHIN = 0.3               # a gap this short before the next note still shows that note as the target
COUNT_IN_SCALE = 1.2            # the count-in text (Hershey simplex, 2 px): tests/vision/test_process.py reads it

# MediaPipe Hands' 21 landmarks as chains: thumb, index, middle, ring, little finger (from the wrist), across the palm
HAND_CHAINS = ((0, 1, 2, 3, 4), (0, 5, 6, 7, 8), (9, 10, 11, 12), (13, 14, 15, 16), (0, 17, 18, 19, 20),
               (5, 9, 13, 17))
FINGERTIPS = (4, 8, 12, 16, 20)
SHIFT = 4                       # sub-pixel bits for landmark drawing: smooth motion, not 1-pixel jumps


def shown_target(song, t: float):
    """The note to show as target at time t: the sounding one, or in a short gap the next one (no '-' flicker)."""
    note = song.note_at(t)
    if note is None:
        nxt = song.next_note(t)
        if nxt is not None and nxt.start - t < NEXT_WITHIN:
            return nxt
    return note


def count_in_text(seconds_left: float | None) -> str:
    """What the count-in overlay says: 'starting...' before go, then whole seconds until the song starts."""
    if seconds_left is None:
        return "starting..."
    return f"get ready: {max(1, math.ceil(seconds_left - 1e-6))}"


def mirrored_points(landmarks: np.ndarray, width: int) -> np.ndarray:
    """Camera-pixel landmarks (N, 2) -> the mirrored view's pixel coordinates (pixel i goes to width-1-i, as flip)."""
    out = np.asarray(landmarks, np.float64).copy()
    out[:, 0] = (width - 1) - out[:, 0]
    return out


def mirrored_box(box, width: int) -> tuple[int, int, int, int]:
    """A camera-pixel box (x, y, w, h) -> the same box in the mirrored view."""
    x, y, w, h = box
    return width - x - w, y, w, h


class ScoreEstimate:
    """Running score shown to the player: share of target-note time so far with the voice within tolerance."""

    def __init__(self, tolerance: float):
        self.tolerance = tolerance
        self.target_s = 0.0
        self.hit_s = 0.0

    def update(self, dt: float, target_midi: float | None, voice_midi: float, amplitude: float) -> None:
        if target_midi is None or dt <= 0 or dt > 0.5:
            return
        self.target_s += dt
        if is_hit(target_midi, voice_midi, amplitude, self.tolerance):
            self.hit_s += dt

    @property
    def score(self) -> int:
        return int(round(10000 * self.hit_s / self.target_s)) if self.target_s > 0 else 0


class Lyrics:
    """The song's syllables laid out once as phrases that fit the picture's width, karaoke style.

    A song line too wide for the picture is cut between words into phrases; the phrase holding the current note is
    shown, its sung part, the current syllable and the rest in three colours.
    """

    def __init__(self, notes: NoteTimes, font, size: int, width: int):
        self.font, self.size = font, size
        self.phrases: list[list[tuple[int, str]]] = []    # per phrase: (note index, text piece)
        self.where: dict[int, tuple[int, int]] = {}       # note index -> (phrase, piece)
        self.after: dict[int, int] = {}                   # a note without a syllable -> the last note before with one
        words: list[list[tuple[int, str]]] = []
        line = None
        for i, n in enumerate(notes.notes):
            if not n.lyric:
                last = words[-1][-1][0] if words and n.line == line else None
                if last is not None:
                    self.after[i] = last
                continue
            if n.line != line and words:
                self._pack(words, width)
                words = []
            line = n.line
            piece = n.lyric[:-1] if n.lyric.endswith("-") else n.lyric + " "
            continues_word = words and not words[-1][-1][1].endswith(" ")   # the previous syllable ended with '-'
            if continues_word:
                words[-1].append((i, piece))
            else:
                words.append([(i, piece)])
        if words:
            self._pack(words, width)
        for i, last in self.after.items():
            k, j = self.where[last]
            self.where[i] = (k, j + 1)
        self.offsets = [self._offsets(p) for p in self.phrases]

    def text_width(self, text: str) -> int:
        if not text:
            return 0
        return cv2.getTextSize((0, 0), text, (0, 0), self.font, self.size, 500)[2]

    def _pack(self, words, width: int) -> None:
        """Cut one song line into phrases that fit ``width``, after punctuation when the phrase is half full."""
        phrase: list = []
        for word in words:
            trial = phrase + word
            if phrase and self.text_width("".join(p for _, p in trial).rstrip()) > width:
                cut = len(phrase)
                for k in range(len(phrase) - 1, 0, -1):
                    if phrase[k - 1][1].rstrip()[-1:] in ",.;:!?" and \
                            self.text_width("".join(p for _, p in phrase[:k])) >= width // 2:
                        cut = k
                        break
                self._add(phrase[:cut])
                phrase = phrase[cut:] + list(word)
            else:
                phrase = trial
        if phrase:
            self._add(phrase)

    def _add(self, phrase) -> None:
        k = len(self.phrases)
        self.phrases.append(phrase)
        for j, (i, _) in enumerate(phrase):
            self.where[i] = (k, j)

    def _offsets(self, phrase) -> list[int]:
        """x of each piece from the phrase's start (measured on the prefix, so kerning is right), and the end."""
        text = ""
        xs = []
        for _, piece in phrase:
            xs.append(self.text_width(text))
            text += piece
        xs.append(self.text_width(text.rstrip()))
        return xs


class Scene:
    """Draws one frame of the game into ``self.view`` (allocated once, returned by ``render`` every frame).

    ``paused`` (set by whoever pauses the session) puts a pause overlay on the picture and stops the judging.
    """

    def __init__(self, settings, song, voice_rec=None):
        self.settings = settings
        self.song = song
        self.voice_rec = voice_rec
        self.voice_buf = np.zeros(4, np.float64)
        w, h = settings.width, settings.height
        self.width, self.height = w, h
        self.k = h / 480.0
        self.view = np.empty((h, w, 3), np.uint8)
        self.font = cv2.FontFace("sans")
        self.notes = NoteTimes(song, settings.transpose)
        self.lane = LaneGeometry.for_song(song, settings, 0, 0, w, int(round(h * LANE_FRACTION)))
        self.hits = HitTrack(self.notes)
        self.trail = PitchTrail()
        self.score = ScoreEstimate(settings.tolerance)
        self.lyrics = Lyrics(self.notes, self.font, self.px(LYRIC_PX), w - self.px(SCORE_W) - self.px(12))
        self.lane_bg = self._lane_background()
        self.paused = False
        self.resume_in: float | None = None   # seconds of the count-in before a paused song plays on (game/pause.py)
        self._last: tuple[float, float, float] | None = None   # (t, midi, amplitude) of the previous frame

    def px(self, size: float) -> int:
        return max(1, int(round(size * self.k)))

    # ---- per frame ---------------------------------------------------------------------------------------------
    def render(self, frame, detection, t: float, fps: float, latency_ms: float | None = None) -> np.ndarray:
        """The annotated, mirrored picture for this frame at session time t (s since t0; negative: count-in).

        latency_ms: capture-to-published time of this frame in the vision process, shown for what it is."""
        midi, amp, known = self.voice_state()
        self.judge(t, midi, amp)
        if not self.paused and self.resume_in is None:   # a held song's time stands still: no trace to add
            self.trail.add(t, midi, known and amp > AUDIBLE)
        self._compose(frame, detection, t)
        self._draw_voice(t, midi, amp, known)
        self._draw_target_tag(t)
        self._draw_bar(t, fps, latency_ms)
        if t < 0:  # a live camera's pictures before t0: still the count-in
            self._draw_count_in(-t)
        elif self.resume_in is not None:   # the count-in before a paused song plays on
            self._draw_count_in(self.resume_in)
        if self.paused:
            self._draw_paused()
        return self.view

    def count_in(self, frame, seconds_left: float | None) -> np.ndarray:
        """Before t0: the mirrored first picture and the lane with the count-in on it ('starting...' before go)."""
        t = -(seconds_left if seconds_left is not None else self.settings.count_in)
        self._compose(frame, None, t)
        self._draw_bar(t, None, None)
        self._draw_count_in(seconds_left)
        if self.paused:
            self._draw_paused()
        return self.view

    def voice_state(self) -> tuple[float, float, bool]:
        """(midi, amplitude, known) the synth is sounding now; known is False before it has written a pitch (the
        record starts zeroed, and MIDI 0 is never played)."""
        if self.voice_rec is None or not self.voice_rec.read_into(self.voice_buf):
            return 0.0, 0.0, False
        midi, amp = float(self.voice_buf[1]), float(self.voice_buf[2])
        return midi, amp, midi > 0

    def judge(self, t: float, midi: float, amp: float) -> None:
        """Score and hit-light the time since the previous frame: its first half by the pitch played then, the second
        by the pitch played now, each against the notes it overlaps (so a note's head and tail, between two frames,
        are judged too, and a well played note lights up whole)."""
        last = self._last
        self._last = (t, midi, amp)
        if last is None or self.paused or not 0 < t - last[0] <= 0.5:
            return
        t_mid = (last[0] + t) / 2
        self._judge_span(last[0], t_mid, last[1], last[2])
        self._judge_span(t_mid, t, midi, amp)

    def _judge_span(self, a: float, b: float, midi: float, amp: float) -> None:
        for i in self.notes.visible(a, b):
            note = self.notes.notes[i]
            lo, hi = max(a, note.start), min(b, note.end)
            if note.kind == "freestyle" or hi <= lo:
                continue
            target = self.notes.midi[i]
            self.score.update(hi - lo, target, midi, amp)
            self.hits.update(lo, hi, i, is_hit(target, midi, amp, self.settings.tolerance))

    # ---- drawing ------------------------------------------------------------------------------------------------
    def _compose(self, frame, detection, t: float) -> None:
        if frame.shape != self.view.shape:  # sources fit frames to the settings' size; anything else is scaled here
            frame = cv2.resize(frame, (self.width, self.height), interpolation=cv2.INTER_AREA)
        cv2.flip(frame, 1, dst=self.view)
        g = self.lane
        split = g.now_x - g.x0    # the past, left of the now line, a little darker than what is to come
        rows = slice(g.y0, g.y0 + g.height)
        past, ahead = self.view[rows, g.x0:g.now_x], self.view[rows, g.now_x:g.x0 + g.width]
        cv2.addWeighted(past, PAST_KEEP, self.lane_bg[:, :split], 1.0, 0.0, dst=past)
        cv2.addWeighted(ahead, PICTURE_KEEP, self.lane_bg[:, split:], 1.0, 0.0, dst=ahead)
        if detection is not None:
            self._draw_hands(detection)
        self._draw_trail(t)
        self._draw_notes(t)

    def _lane_background(self) -> np.ndarray:
        """The lane's fixed layer, added to the darkened picture: tint, a line and label per song pitch, now glow."""
        g = self.lane
        bg = np.empty((g.height, g.width, 3), np.uint8)
        bg[:] = LANE_TINT
        label_px = self.px(12)
        last_label = None
        for midi in sorted(set(self.notes.midi), reverse=True):
            y = int(round(g.y_of(midi))) - g.y0
            cv2.line(bg, (0, y), (g.width - 1, y), GRID, 1)
            if last_label is None or y - last_label >= label_px + 3:   # neighbouring semitones: labels would collide
                cv2.putText(bg, note_name(midi), (self.px(4), y - 2), LABEL, self.font, label_px, 400)
                last_label = y
        for dx, level in ((-3, 30), (-2, 45), (-1, 70), (0, 90), (1, 70), (2, 45), (3, 30)):  # soft glow
            x = g.now_x - g.x0 + dx
            if 0 <= x < g.width:
                bg[:, x] = np.maximum(bg[:, x], level)
        cv2.line(bg, (0, g.height - 1), (g.width - 1, g.height - 1), (120, 110, 100), 1)
        return bg

    def _draw_hands(self, detection) -> None:
        for i, hand in enumerate(detection.hands):
            colour = PITCH_HAND if i == 0 else VOLUME_HAND
            if hand.landmarks is None:
                x, y, bw, bh = mirrored_box(hand.box, self.width)
                cv2.rectangle(self.view, (x, y), (x + bw - 1, y + bh - 1), colour, BOX_PX)
            else:
                self._draw_skeleton(mirrored_points(hand.landmarks, self.width), colour)

    def _draw_skeleton(self, pts: np.ndarray, colour) -> None:
        fixed = np.round(pts * (1 << SHIFT)).astype(np.int32)
        chains = [fixed[list(c)] for c in HAND_CHAINS]
        cv2.polylines(self.view, chains, False, colour, self.px(3), cv2.LINE_AA, SHIFT)
        r = self.px(3) << SHIFT
        for j, p in enumerate(fixed):
            tip = j in FINGERTIPS
            cv2.circle(self.view, (int(p[0]), int(p[1])), r + (r // 2 if tip else 0), WHITE if tip else colour,
                       -1, cv2.LINE_AA, SHIFT)

    def _pill(self, img, x0: int, y0: int, x1: int, y1: int, colour) -> None:
        """A bar with round ends covering pixels x0..x1, y0..y1 (clipped by img's edges)."""
        h = y1 - y0 + 1
        if x1 - x0 + 1 < h:
            cv2.rectangle(img, (x0, y0), (x1, y1), colour, -1)
            return
        r = h // 2
        cv2.rectangle(img, (x0 + r, y0), (x1 - r, y1), colour, -1)
        cy = y0 + y1   # half-pixel units (shift 1)
        cv2.circle(img, (2 * x0 + h - 1, cy), h, colour, -1, cv2.LINE_AA, 1)
        cv2.circle(img, (2 * x1 - h + 1, cy), h, colour, -1, cv2.LINE_AA, 1)

    def _pill_part(self, x_from: int, x_to: int, rect, colour) -> None:
        """The part of a bar between picture columns x_from..x_to-1 (a lit or passed stretch of a note)."""
        g = self.lane
        x_from, x_to = max(x_from, g.x0), min(x_to, g.x0 + g.width)
        if x_to <= x_from:
            return
        roi = self.view[g.y0:g.y0 + g.height, x_from:x_to]
        x0, y0, x1, y1 = rect
        self._pill(roi, x0 - x_from, y0 - g.y0, x1 - x_from, y1 - g.y0, colour)

    def _draw_notes(self, t: float) -> None:
        g = self.lane
        lane = self.view[g.y0:g.y0 + g.height, g.x0:g.x0 + g.width]
        margin = g.bar_px / g.px_per_s
        for i in self.notes.visible(t - g.behind_s - margin, t + g.ahead_s + margin):
            note = self.notes.notes[i]
            x0, y0, x1, y1 = rect = g.bar(note.start, note.end, self.notes.midi[i], t)
            if note.kind == "freestyle":  # not judged: an outline only
                cv2.rectangle(lane, (x0 - g.x0, y0 - g.y0), (x1 - g.x0, y1 - g.y0), NOTE_AHEAD, 1)
                continue
            golden = note.kind == "golden"
            if x1 >= g.now_x:
                self._pill(lane, x0 - g.x0, y0 - g.y0, x1 - g.x0, y1 - g.y0, GOLD_AHEAD if golden else NOTE_AHEAD)
            if x0 < g.now_x:
                self._pill_part(x0, g.now_x, rect, NOTE_MISSED)
            for a, b in self.hits.runs[i]:
                self._pill_part(int(round(g.x_of(a, t))), int(round(g.x_of(b, t))) + 1, rect,
                                GOLD_HIT if golden else NOTE_HIT)

    def _draw_trail(self, t: float) -> None:
        """The played pitch of the last moment, a thin trace left of the now line, under the bars (lit bars stay
        clean; the trace shows where the player was when off the notes)."""
        g = self.lane
        ts, ms, audible = self.trail.between(t - g.behind_s, t)
        if len(ts) < 2:
            return
        xs = g.now_x + (ts - t) * g.px_per_s
        pts = np.round(np.stack([xs, g.ys_of(ms)], axis=1) * 4).astype(np.int32)
        cut = np.flatnonzero(np.diff(audible.astype(np.int8))) + 1
        runs = [p for p, a in zip(np.split(pts, cut), np.split(audible, cut)) if a[0] and len(p) > 1]
        if runs:
            cv2.polylines(self.view, runs, False, TRAIL, self.px(2), cv2.LINE_AA, 2)

    def _draw_voice(self, t: float, midi: float, amp: float, known: bool) -> None:
        """The now line and, on it, the marker at the played pitch: lit when on the target, orange when off, a grey
        ring when silent."""
        g = self.lane
        cv2.line(self.view, (g.now_x, g.y0), (g.now_x, g.y0 + g.height - 2), WHITE, 2)
        if not known:
            return
        y = g.y_of(midi)
        r = max(g.bar_px * 0.75, 6 * self.k)
        centre = (g.now_x * 4, int(round(y * 4)))
        if amp <= AUDIBLE:
            cv2.circle(self.view, centre, int(r * 4), SILENT, 2, cv2.LINE_AA, 2)
            return
        i = self.notes.index_at(t)
        note = self.notes.notes[i] if i is not None else None
        if note is None or note.kind == "freestyle":
            fill = MARKER_FREE
        elif is_hit(self.notes.midi[i], midi, amp, self.settings.tolerance):
            fill = GOLD_HIT if note.kind == "golden" else NOTE_HIT
        else:
            fill = MARKER_OFF
        cv2.circle(self.view, centre, int((r + 2) * 4), WHITE, -1, cv2.LINE_AA, 2)
        cv2.circle(self.view, centre, int(r * 4), fill, -1, cv2.LINE_AA, 2)

    def _darken(self, x0: int, y0: int, x1: int, y1: int, keep: float = PICTURE_KEEP) -> None:
        x0, y0 = max(0, x0), max(0, y0)
        x1, y1 = min(self.width, x1), min(self.height, y1)
        if x1 > x0 and y1 > y0:
            part = self.view[y0:y1, x0:x1]
            cv2.convertScaleAbs(part, dst=part, alpha=keep)

    def _text(self, text: str, org, colour, size: int, weight: int = 400, align: int = 0) -> None:
        cv2.putText(self.view, text, org, colour, self.font, size, weight, align)

    def _draw_target_tag(self, t: float) -> None:
        """The note to play now, big, in a tag hanging from the now line under the lane."""
        note = shown_target(self.song, t)
        if note is None:
            return
        if note.kind == "freestyle":
            name, colour = "free", NOTE_AHEAD
        else:
            name = note_name(note.midi + self.settings.transpose)
            colour = GOLD_AHEAD if note.kind == "golden" else NOTE_AHEAD
        size, pad = self.px(BIG_PX), self.px(8)
        _, _, tw, _ = cv2.getTextSize((0, 0), name, (0, 0), self.font, size, 700)
        g = self.lane
        x0 = max(0, g.now_x - tw // 2 - pad)
        y0 = g.y0 + g.height
        self._darken(x0, y0, x0 + tw + 2 * pad, y0 + size + 2 * pad)
        self._text(name, (x0 + pad, y0 + pad + size - self.px(4)), colour, size, 700)

    def _draw_bar(self, t: float, fps: float | None, latency_ms: float | None) -> None:
        """The bar across the bottom: the lyric phrase on the left, the score big on the right with the frame rate
        and the vision latency small under it. Kept off the middle of the picture, where the hands are."""
        bar_h, pad = self.px(BAR_PX), self.px(8)
        y0 = self.height - bar_h
        self._darken(0, y0, self.width, self.height)
        cv2.line(self.view, (0, y0), (self.width - 1, y0), (120, 110, 100), 1)
        size, small = self.px(BIG_PX), self.px(SMALL_PX)
        right = self.width - self.px(12)
        base = y0 + pad + size - self.px(4)
        score = f"{self.score.score}"
        sw = cv2.getTextSize((0, 0), score, (0, 0), self.font, size, 700)[2]
        self._text(score, (right, base), WHITE, size, 700, cv2.PUT_TEXT_ALIGN_RIGHT)
        self._text("score", (right - sw - pad, base), LABEL, small, 400, cv2.PUT_TEXT_ALIGN_RIGHT)
        if fps is not None:
            status = f"{fps:.0f} fps"
            if latency_ms is not None:
                status += f" · capture→hand {latency_ms:.1f} ms"
            self._text(status, (right, self.height - self.px(6)), LABEL, small, 400, cv2.PUT_TEXT_ALIGN_RIGHT)
        self._draw_lyrics(t, self.px(12), self.width - self.px(SCORE_W), y0)

    def _draw_lyrics(self, t: float, x_left: int, x_right: int, y_top: int) -> None:
        """The phrase being sung, centred between x_left and x_right: sung part, current syllable, the rest."""
        ly = self.lyrics
        note = shown_target(self.song, t) or self.song.next_note(t)
        if note is None:
            return
        where = ly.where.get(self.notes.index_of[note])
        if where is None:
            return
        k, j = where
        phrase, xs = ly.phrases[k], ly.offsets[k]
        size = ly.size
        x0 = x_left + max(0, (x_right - x_left - xs[-1]) // 2)
        base = y_top + (self.height - y_top + size) // 2 - self.px(4)
        self._text("".join(p for _, p in phrase[:j]), (x0, base), NOTE_AHEAD, size, 500)
        if j < len(phrase):
            current = note.start <= t < note.end
            self._text(phrase[j][1], (x0 + xs[j], base), GOLD_AHEAD if current else WHITE, size, 500)
            self._text("".join(p for _, p in phrase[j + 1:]), (x0 + xs[j + 1], base), WHITE, size, 500)

    def _draw_count_in(self, seconds_left: float | None) -> None:
        """A centred panel saying 'starting...' (before go) or 'get ready: N' (whole seconds until t0)."""
        text = count_in_text(seconds_left)
        (tw, th), base = cv2.getTextSize(text, cv2.FONT_HERSHEY_SIMPLEX, COUNT_IN_SCALE, 2)
        w, h = self.width, self.height
        x, y = (w - tw) // 2, (h + th) // 2
        self._darken(x - 20, y - th - 20, x + tw + 20, y + base + 20)
        cv2.putText(self.view, text, (x, y), cv2.FONT_HERSHEY_SIMPLEX, COUNT_IN_SCALE, WHITE, 2, cv2.LINE_AA)

    def _draw_paused(self) -> None:
        self._darken(0, 0, self.width, self.height, 0.45)
        big, small, pad = self.px(56), self.px(18), self.px(14)
        hint = "p: play on    c: calibrate    q: quit"
        bw = cv2.getTextSize((0, 0), "paused", (0, 0), self.font, big, 700)[2]
        hw = cv2.getTextSize((0, 0), hint, (0, 0), self.font, small, 400)[2]
        width = max(bw, hw) + 2 * pad
        x0, y0 = (self.width - width) // 2, (self.height - big - small - 3 * pad) // 2
        self._darken(x0, y0, x0 + width, y0 + big + small + 3 * pad, 0.4)
        self._text("paused", ((self.width - bw) // 2, y0 + pad + big - self.px(6)), WHITE, big, 700)
        self._text(hint, ((self.width - hw) // 2, y0 + 2 * pad + big + small - self.px(4)), LABEL, small, 400)
