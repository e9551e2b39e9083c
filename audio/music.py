"""The song's backing, played on the session clock: the song's own recording, or one rendered from its notes.

Which track: the song's audio file (Song.audio, audio/backingfile.py: decoded, at the session's tempo and key) when
it has one; a file that cannot be used is told in one line and the rendered backing plays instead. The rendered
backing (audio/arrangement.py: a soft guide melody, bass and chords; audio/instruments.py: the voices) is mixed,
kept below PEAK and scaled by settings.music_volume, so it stays under the player's hand tone. Both are made whole
before ready.

Why a finished track: the callback then only copies the slice for its block's DAC time (position = t_dac * rate), so
the backing stays on the session clock and corrects itself after any stall. Blocks play back to back while the DAC
time agrees within SLACK_S (4 ms) or a quarter block: PortAudio's DAC times through PulseAudio jitter by a sample or
two and now and then jump back ~1 ms (measured at 128-frame blocks); following such a jump would repeat a millisecond
of the track (a click) for no audible gain in timing.

Pauses (game/pause.py): the track position follows song time, not session time. The first block of a pause fades
what was playing out over one block and the backing is silent until the song plays on (also through the resume
count-in); the first block after fades in from where the song was held (re-synced to song time, within a block).

Backends: PyAudio's callback (here), or simpleaudio (audio/simpleplayer.py, --music-backend simpleaudio).
Files: backing.wav (what was played, from the first block at or after go, on the session clock: a pause is silence
in it), music.csv (t_dac, song_t, level: one row per ~50 ms; song_t holds still during a pause), stats-music.json
(with "backing": file | rendered and "backend").
"""
from __future__ import annotations

import math
import time

import numpy as np

from game.logfiles import MUSIC_COLUMNS
from game.pause import PLAYING

PEAK = 0.9               # the rendered backing's loudest sample before the volume (a mix never clips)
ROW = CSV_HEADER = MUSIC_COLUMNS
CSV_EVERY_S = 0.05
FILE_BUDGET = 0.6        # share of settings.ready_timeout the audio file may take to prepare
SLACK_S = 0.004          # DAC times this close to back-to-back are back to back (PulseAudio's jump by ~1 ms)


def render_song(song, settings, extra_s: float | None = None) -> np.ndarray:
    """The rendered backing as float32 at settings.sample_rate, sample 0 = song time 0, to the end of the tail."""
    from audio.arrangement import parts
    from audio.instruments import add_note
    rate = float(settings.sample_rate)
    tail = settings.tail if extra_s is None else extra_s
    track = np.zeros(int((song.duration + tail) * rate) + 1, np.float64)
    for part in parts(song, settings):
        for start, held, midi in part.notes:
            add_note(track, part.instrument, start, held, midi, part.gain, rate)
    peak = float(np.max(np.abs(track))) if track.size else 0.0
    if peak > PEAK:
        track *= PEAK / peak
    return (track * float(settings.music_volume)).astype(np.float32)


def backing_track(song, settings, notice, budget_s: float | None = None) -> tuple[np.ndarray | None, dict]:
    """(track, facts for the stats): the song's audio file when it has one that works, else the rendered backing.
    ``notice(text)`` tells the player, in one line, why a file is not played."""
    if settings.music_volume <= 0:
        return None, {"backing": "muted"}
    started = time.monotonic()
    if song.audio:
        from audio.backingfile import BackingFileError, load_track
        deadline = None if budget_s is None else started + budget_s
        try:
            track = load_track(song, settings, deadline)
            return track, {"backing": "file", "audio": song.audio, "prepare_s": round(time.monotonic() - started, 3)}
        except BackingFileError as e:
            notice(f"the song's audio file is not played ({e}): playing a backing made from its notes")
            facts = {"backing": "rendered", "audio_error": str(e)}
    else:
        facts = {"backing": "rendered"}
    track = render_song(song, settings)
    return track, facts | {"prepare_s": round(time.monotonic() - started, 3)}


class Backing:
    """Copies the block of the pre-rendered track that belongs to the song time of the block's DAC time.

    clock: a game.pause.SongClock (None: the song never pauses)."""

    def __init__(self, settings, track: np.ndarray | None, clock=None):
        self.clock = clock
        self.n = int(settings.block)
        self.rate = float(settings.sample_rate)
        self.track = track if track is not None and track.size else None
        self.out = np.zeros(self.n, np.float32)
        self.row = np.zeros(len(ROW), np.float64)
        self.pos = None                       # track position of the next block when played back to back
        self.slack = max(self.n // 4, int(SLACK_S * self.rate))   # DAC-time jitter tolerated before re-syncing
        self.resyncs = 0
        self.sounding = True                  # False while paused (the next block that plays fades in)
        self._fade_out = np.linspace(1.0, 0.0, self.n, dtype=np.float32)
        self._fade_in = self._fade_out[::-1].copy()

    def render(self, t_dac: float, underflow: bool = False) -> np.ndarray:
        out, n = self.out, self.n
        song_t, playing = t_dac, True
        clock = self.clock
        if clock is not None:
            clock.refresh()
            song_t = clock.song_time(t_dac)
            playing = clock.state(t_dac) == PLAYING
        r = self.row
        if not playing:
            level = 0.0
            if self.sounding and self.pos is not None:   # the pause's first block: fade out what was playing
                self._copy(self.pos)
                np.multiply(out, self._fade_out, out=out)
                level = math.sqrt(float(np.dot(out, out)) / n)
            else:
                out.fill(0.0)
            self.sounding = False
            self.pos = None                   # playing on re-syncs to song time (not counted as a resync)
            r[0], r[1], r[2] = t_dac, song_t, level
            return out
        pos = int(round(song_t * self.rate))
        if self.pos is not None:
            if abs(pos - self.pos) <= self.slack:
                pos = self.pos                # contiguous: DAC times jitter by a sample or two per block
            else:
                self.resyncs += 1             # a stall or a jump: follow the session clock
        self.pos = pos + n
        self._copy(pos)
        if not self.sounding:                 # the first block after a pause fades in
            np.multiply(out, self._fade_in, out=out)
            self.sounding = True
        level = math.sqrt(float(np.dot(out, out)) / n)
        r[0], r[1], r[2] = t_dac, pos / self.rate, level
        return out

    def _copy(self, pos: int) -> None:
        """The track's samples pos .. pos + block into the output buffer (silence outside the track)."""
        out, n, track = self.out, self.n, self.track
        if track is None or pos + n <= 0 or pos >= track.shape[0]:
            out.fill(0.0)
            return
        a = pos if pos > 0 else 0
        b = pos + n if pos + n < track.shape[0] else track.shape[0]
        if a > pos or b < pos + n:
            out.fill(0.0)
        out[a - pos:b - pos] = track[a:b]


class MusicLog:
    """music.csv: one row per ~50 ms (the block's level)."""

    def __init__(self, path):
        from game.sessionlog import CsvLog
        self.csv = CsvLog(path, CSV_HEADER)
        self.next_t = -math.inf

    def __call__(self, rows: np.ndarray) -> None:
        for t_dac, song_t, level in rows.tolist():
            if t_dac >= self.next_t:
                self.csv.write((f"{t_dac:.6f}", f"{song_t:.6f}", f"{level:.6f}"))
                self.next_t = t_dac + CSV_EVERY_S - 1e-6
        self.csv.flush()


def run(ctx) -> None:
    s = ctx.settings
    song = ctx.song()
    budget = FILE_BUDGET * float(s.ready_timeout) - (time.monotonic() - ctx.started)
    track, facts = backing_track(song, s, ctx.notice, max(1.0, budget))
    if s.music_backend == "simpleaudio":
        from audio.simpleplayer import run_simpleaudio
        from game.quiet import CStderrLog
        c_stderr = CStderrLog(ctx.session_dir / f"stderr-{ctx.name}.log")   # ALSA's own lines, off the terminal
        if s.output_device or s.music_latency != "high":
            ctx.notice("simpleaudio plays the backing on the system's default device with its own buffering: "
                       "--output-device applies to the hand tone only, --music-latency to the pyaudio backend")
        try:
            return run_simpleaudio(ctx, track, facts)
        finally:
            c_stderr.close()
    from audio.output import OutputRunner, play_until_stopped
    from game.pause import SongClock
    log = MusicLog(ctx.session_dir / "music.csv")
    clock = SongClock.attach(ctx.link.shm, s)
    backing = Backing(s, track, clock)
    runner = OutputRunner(ctx, backing, ctx.session_dir / "backing.wav", log, None,
                          latency_option="music_latency")
    rendered_s = 0.0 if track is None else round(track.size / s.sample_rate, 3)
    try:
        play_until_stopped(ctx, runner, log,
                           lambda: {"volume": s.music_volume, "resyncs": backing.resyncs, "rendered_s": rendered_s,
                                    "backend": "pyaudio"} | facts)
    finally:
        backing.clock = None
        clock.close()
