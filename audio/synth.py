"""The theremin voice: hand state -> pitch -> snap -> glide -> vibrato -> phase-continuous oscillator -> click-free
envelope -> speaker.

``Voice.render`` is the whole real-time part (called by the audio callback, or by the clock thread when there is no
speaker): it reads the hand state through the seqlock into a preallocated array, computes one block into
preallocated arrays (numpy out= everywhere; per block only scalar Python float math: no array allocation, no
locks, no I/O), publishes the VoiceState and fills its log row.

The sound, and why:
- Timbre: a sine with a soft 2nd and 3rd partial (HARMONICS), like a theremin's near-sine; one np.sin per block, the
  partials from it by Chebyshev polynomials (cos 2x = 1 - 2 sin^2 x, sin 3x = sin x (3 - 4 sin^2 x)).
- Pitch: the hand's pitch (game/pitchmap.py), pulled towards the song's scale or the semitones when snapping is on
  (audio/pitchsnap.py), then glided (a one-pole per block, settings.glide_ms) and interpolated in semitones across
  the block. A new onset starts on its pitch instead of sliding in from the last note.
- Vibrato (settings.vibrato_cents, vibrato_hz): a sine LFO whose phase runs on across blocks. Like a player's it
  comes in only once a note has settled: after an onset, and again after a move to another note (the pitch more
  than VIBRATO_MOVING semitones from its slowly following anchor), it waits VIBRATO_DELAY_S, then fades in over
  VIBRATO_FADE_IN_S; while the pitch moves it fades out over VIBRATO_FADE_OUT_S.
- Level: settings.synth_volume x gate x second-hand gain. The gate is the envelope: linear attack/release
  (attack_ms, release_ms) on hand present/absent or song paused; the gain (1 - the second hand's height, 1 without
  a second hand) is smoothed by a one-pole of VOLUME_SMOOTH_MS, so a jumping or flickering second hand neither
  clicks nor buzzes at the camera's frame rate. At an onset the gain starts at the hand's value (the gate is 0).
  The level is ramped linearly across each block: no step anywhere (tests/audio/test_clickfree.py).

Before t0 (the count-in) the voice already plays the hand when one is present, so the player can find the first note.
While the song is paused (game/pause.py) the voice is silent (released through its envelope, no click); during the
count-in before the song plays on it plays the hand again, as before t0.

Files: synth.csv (t_dac, midi, hz, amplitude, frame_index, t_capture, latency_ms), synth.wav (what was played,
int16 mono), stats-synth.json. synth.csv's midi (and the VoiceState the window shows) is the played pitch at the
block's end: snapped and glided, without the vibrato's swing (the note the player holds, which the report scores).
"""
from __future__ import annotations

import math

import numpy as np

from audio.pitchsnap import PitchSnap
from game.handstate import HAND, HAND_FIELDS, VOICE_FIELDS
from game.logfiles import SYNTH_COLUMNS
from game.pause import PAUSED
from game.pitchmap import PitchMap

TWO_PI = 2.0 * math.pi
HARMONICS = (1.0, 0.2, 0.08)           # fundamental, 2nd, 3rd partial: about -14 and -22 dB, a soft near-sine
NORM = 1.0 / sum(HARMONICS)            # keeps the peak at or below 1
VOLUME_SMOOTH_MS = 40.0                # second-hand gain smoothing (one-pole time constant)
VIBRATO_DELAY_S = 0.2                  # a settled note waits this long before the vibrato comes in ...
VIBRATO_FADE_IN_S = 0.4                # ... and reaches full depth over this
VIBRATO_FADE_OUT_S = 0.1               # the vibrato leaves this fast while the pitch moves to another note
VIBRATO_ANCHOR_S = 0.15                # time constant of the anchor that follows the pitch slowly
VIBRATO_MOVING = 0.5                   # semitones between pitch and anchor that count as moving
ROW = ("t_dac", "midi", "hz", "amplitude", "frame_index", "t_capture", "underflow")
CSV_HEADER = SYNTH_COLUMNS
NO_SPEAKER = "no speaker: playing silently, the session's sound is still saved in performance.wav"

_P, _AREA, _FRAME, _TCAP = HAND["present"], HAND["area"], HAND["frame_index"], HAND["t_capture"]
_P2, _Y2 = HAND["present2"], HAND["y2"]
_H1, _H2, _H3 = (h * NORM for h in HARMONICS)
_HZ_AT_0 = 440.0 * 2.0 ** (-69.0 / 12.0)        # Hz of MIDI 0


def _one_pole(block: int, rate: float, ms: float) -> float:
    """Per-block coefficient of a one-pole follower with time constant ``ms`` (1.0: follow at once)."""
    return 1.0 if ms <= 0.0 else 1.0 - math.exp(-block / (ms / 1000.0 * rate))


class Voice:
    """One block at a time of the theremin tone; all state and buffers preallocated."""

    def __init__(self, settings, pitchmap: PitchMap, hand=None, voice=None, clock=None, song=None):
        """clock: a game.pause.SongClock (None: the song never pauses); song: needed for snapping to its scale."""
        n = self.n = int(settings.block)
        rate = self.rate = float(settings.sample_rate)
        self.hand, self.voice, self.clock = hand, voice, clock
        self.volume = float(settings.synth_volume)
        # pitch map constants: midi = low + clamp(log(area) - log_far) * scale
        self.low = pitchmap.low_midi
        self.high = pitchmap.high_midi
        self.log_far = math.log(pitchmap.area_far)
        self.log_near = math.log(pitchmap.area_near)
        self.scale = (pitchmap.high_midi - pitchmap.low_midi) / (self.log_near - self.log_far)
        self.snap = PitchSnap.for_song(song, settings)
        self.glide = _one_pole(n, rate, max(0.0, settings.glide_ms))
        self.up = n / (max(settings.attack_ms, 0.1) / 1000.0 * rate)    # gate change per block
        self.down = n / (max(settings.release_ms, 0.1) / 1000.0 * rate)
        self.gain_follow = _one_pole(n, rate, VOLUME_SMOOTH_MS)
        self.block_s = n / rate
        self.inc_per_hz = TWO_PI / rate
        # vibrato: depth in semitones, LFO phase advance per block, level changes per block
        self.vib_depth = max(0.0, float(settings.vibrato_cents)) / 100.0
        self.lfo_step = TWO_PI * float(settings.vibrato_hz) * n / rate
        self.vib_up = self.block_s / VIBRATO_FADE_IN_S
        self.vib_down = self.block_s / VIBRATO_FADE_OUT_S
        self.anchor_follow = _one_pole(n, rate, VIBRATO_ANCHOR_S * 1000.0)
        # state
        self.midi = self.low        # centre pitch at the end of the last block
        self.amp = 0.0              # volume * gate * gain at the end of the last block
        self.gate = 0.0
        self.gain = 1.0
        self.phase = 0.0
        self.lfo = 0.0
        self.vib_level = 0.0        # 0..1 of vib_depth
        self.anchor = self.low
        self.settled_s = 0.0
        # buffers
        self.hand_vals = np.zeros(len(HAND_FIELDS), np.float64)
        self.voice_vals = np.zeros(len(VOICE_FIELDS), np.float64)
        self.row = np.zeros(len(ROW), np.float64)
        self.out = np.zeros(n, np.float32)
        self._ramp = np.arange(1, n + 1, dtype=np.float64) / n
        self._pitch = np.zeros(n, np.float64)
        self._ph = np.zeros(n, np.float64)
        self._tmp = np.zeros(n, np.float64)
        self._wave = np.zeros(n, np.float64)
        # the callback passes these arrays every block: their views made now (analyze's replayed hand states are no
        # shared record: nothing to bind)
        for record, values, writes in ((hand, self.hand_vals, False), (voice, self.voice_vals, True)):
            if hasattr(record, "bind"):
                record.bind(values, writes=writes)

    def midi_for(self, area: float) -> float:
        """PitchMap.midi with precomputed constants (scalar math only); no area plays the lowest."""
        if not area > 0.0:
            return self.low
        m = self.low + (math.log(area) - self.log_far) * self.scale
        return self.low if m < self.low else (self.high if m > self.high else m)

    def render(self, t_dac: float, underflow: bool = False) -> np.ndarray:
        """Compute the block that reaches the speaker at session time t_dac; returns the preallocated buffer."""
        h = self.hand_vals
        seen = False
        if self.hand is not None:
            self.hand.read_into(h)
            seen = self.hand.sequence() > 0
        present = seen and h[_P] > 0.5
        clock = self.clock
        if clock is not None:
            clock.refresh()
            if clock.state(t_dac) == PAUSED:
                present = False                 # the song is paused: release, hold the pitch
        midi0, gate, gain = self.midi, self.gate, self.gain
        midi1, gate1, gain1 = midi0, 0.0, gain
        onset = False
        if present:
            gate1 = 1.0
            area = float(h[_AREA])
            target = self.snap.pull(self.midi_for(area)) if area == area else midi0     # NaN: hold the pitch
            want = 1.0
            if h[_P2] > 0.5:
                want = 1.0 - float(h[_Y2])
                if not 0.0 <= want <= 1.0:
                    want = 0.0 if want < 0.0 else 1.0          # also NaN -> 1
            if gate <= 0.0:
                onset = True                    # a new onset starts on its pitch and at its volume: no slide in
                midi0 = midi1 = target
                gain = gain1 = want
            else:
                midi1 = midi0 + (target - midi0) * self.glide
                gain1 = gain + (want - gain) * self.gain_follow
        gate1 = min(gate1, gate + self.up) if gate1 > gate else max(gate1, gate - self.down)
        amp0, amp1 = self.amp, self.volume * gate1 * gain1
        d0 = d1 = 0.0
        if self.vib_depth > 0.0:
            d0, d1 = self._vibrato(onset, midi1)
        out = self.out
        if amp0 <= 0.0 and amp1 <= 0.0:
            out.fill(0.0)
        else:
            self._tone(midi0, midi1, d0, d1, amp0, amp1)
        self.lfo = math.fmod(self.lfo + self.lfo_step, TWO_PI)
        self.midi, self.gate, self.gain, self.amp = midi1, gate1, gain1, amp1
        frame = float(h[_FRAME]) if seen else -1.0
        t_cap = float(h[_TCAP]) if seen else math.nan
        v = self.voice_vals
        v[0], v[1], v[2], v[3] = t_dac, midi1, amp1, frame
        if self.voice is not None:
            self.voice.write(v)
        r = self.row
        r[0], r[1], r[2], r[3] = t_dac, midi1, _HZ_AT_0 * 2.0 ** (midi1 / 12.0), amp1
        r[4], r[5], r[6] = frame, t_cap, 1.0 if underflow else 0.0
        return out

    def _vibrato(self, onset: bool, midi: float) -> tuple[float, float]:
        """Vibrato depth (semitones) at the start and end of this block; advances the settle logic."""
        level = self.vib_level
        if onset:
            level = 0.0
            self.anchor, self.settled_s = midi, 0.0
        self.anchor += (midi - self.anchor) * self.anchor_follow
        if abs(midi - self.anchor) > VIBRATO_MOVING:
            self.settled_s = 0.0
            level1 = max(0.0, level - self.vib_down)
        else:
            self.settled_s += self.block_s
            level1 = min(1.0, level + self.vib_up) if self.settled_s > VIBRATO_DELAY_S else level
        self.vib_level = level1
        return level * self.vib_depth, level1 * self.vib_depth

    def _tone(self, midi0: float, midi1: float, d0: float, d1: float, amp0: float, amp1: float) -> None:
        """The block's samples into self.out: pitch ramped in semitones plus vibrato, phase carried on, level ramped."""
        ramp, pitch, ph, tmp, wave = self._ramp, self._pitch, self._ph, self._tmp, self._wave
        np.multiply(ramp, (midi1 - midi0) / 12.0, out=pitch)          # octaves above midi0, sample by sample
        if d0 > 0.0 or d1 > 0.0:
            np.multiply(ramp, self.lfo_step, out=tmp)                   # the LFO, carried on from the last block
            np.add(tmp, self.lfo, out=tmp)
            np.sin(tmp, out=tmp)
            np.multiply(ramp, (d1 - d0) / 12.0, out=wave)              # its depth, ramped (octaves)
            np.add(wave, d0 / 12.0, out=wave)
            np.multiply(tmp, wave, out=tmp)
            np.add(pitch, tmp, out=pitch)
        np.exp2(pitch, out=pitch)
        np.multiply(pitch, _HZ_AT_0 * 2.0 ** (midi0 / 12.0) * self.inc_per_hz, out=pitch)   # phase step per sample
        np.add.accumulate(pitch, out=ph)
        np.add(ph, self.phase, out=ph)
        self.phase = math.fmod(float(ph[-1]), TWO_PI)
        s = ph                                                           # the phase is kept; sin x in place
        np.sin(ph, out=s)
        # h1 sin x + h3 sin 3x = sin x (h1 + 3 h3 - 4 h3 sin^2 x);  h2 cos 2x = h2 (1 - 2 sin^2 x)
        np.multiply(s, s, out=tmp)
        np.multiply(tmp, -4.0 * _H3, out=wave)
        np.add(wave, _H1 + 3.0 * _H3, out=wave)
        np.multiply(wave, s, out=wave)
        np.multiply(tmp, -2.0 * _H2, out=tmp)
        np.add(tmp, _H2, out=tmp)
        np.add(wave, tmp, out=wave)
        np.multiply(ramp, amp1 - amp0, out=tmp)                         # the level, a linear ramp across the block
        np.add(tmp, amp0, out=tmp)
        np.multiply(wave, tmp, out=wave)
        np.copyto(self.out, wave, casting="same_kind")


class SynthLog:
    """synth.csv rows from the drain thread, and the motion-to-sound latency figures (game/figures.py's rule).

    Only each frame's first-block latency is kept (8 bytes a camera frame, in an array.array), not every block's
    times: three lists of floats per block grew the synth by 2.6 MB a minute in a 10-minute bench session."""

    def __init__(self, path):
        from array import array
        from game.sessionlog import CsvLog
        self.csv = CsvLog(path, CSV_HEADER)
        self.latencies = array("d")     # ms, one per camera frame: its first block's (first_block_latencies' rule)
        self.last_frame = -1.0

    def __call__(self, rows: np.ndarray) -> None:
        for t_dac, midi, hz, amp, frame, t_cap, _uf in rows.tolist():
            has_frame = frame >= 0 and not math.isnan(t_cap)
            if has_frame and frame != self.last_frame:
                if t_cap >= 0.0:
                    self.latencies.append((t_dac - t_cap) * 1000.0)
                self.last_frame = frame
            # formatted here: times to the microsecond, pitch and level to what a report needs
            self.csv.write((f"{t_dac:.6f}", f"{midi:.4f}", f"{hz:.3f}", f"{amp:.5f}", int(frame),
                            "" if math.isnan(t_cap) else f"{t_cap:.6f}",
                            f"{(t_dac - t_cap) * 1000.0:.3f}" if has_frame else ""))
        self.csv.flush()

    def percentiles(self) -> dict:
        from game.figures import percentile
        lat = np.array(self.latencies, dtype=float)   # a copy: no buffer export left on the growing array
        return {"p50": percentile(lat, 50, 2), "p95": percentile(lat, 95, 2), "p99": percentile(lat, 99, 2),
                "n": int(lat.size)}


def run(ctx) -> None:
    from game.handstate import attach_hand, attach_voice
    from game.pause import SongClock
    from audio.output import OutputRunner, play_until_stopped
    s = ctx.settings
    song = ctx.song()
    hand = attach_hand(ctx.link.shm["hand"])
    voice = attach_voice(ctx.link.shm["voice"])
    clock = SongClock.attach(ctx.link.shm, s)
    log = SynthLog(ctx.session_dir / "synth.csv")
    engine = Voice(s, PitchMap.for_song(song, s), hand, voice, clock, song)
    runner = OutputRunner(ctx, engine, ctx.session_dir / "synth.wav", log, NO_SPEAKER)
    try:
        play_until_stopped(ctx, runner, log, lambda: {"latency_ms": log.percentiles()})
    finally:
        engine.hand = engine.voice = engine.clock = None
        hand.close()
        voice.close()
        clock.close()
