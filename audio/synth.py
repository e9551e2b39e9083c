"""The theremin voice: hand state -> pitch -> glide -> phase-continuous oscillator -> click-free envelope -> speaker.

``Voice.render`` is the whole real-time part (called by the audio callback, or by the clock thread when there is no
speaker): it reads the hand state through the seqlock into a preallocated array, computes one block into
preallocated arrays (numpy out= everywhere: no array allocation), publishes the VoiceState and fills its log row.
Before t0 (the count-in) the voice already plays the hand when one is present, so the player can find the first note.
While the song is paused (game/pause.py) the voice is silent (released through its envelope, no click); during the
count-in before the song plays on it plays the hand again, as before t0.

Files: synth.csv (t_dac, midi, hz, amplitude, frame_index, t_capture, latency_ms), synth.wav (what was played,
int16 mono), stats-synth.json.
"""
from __future__ import annotations

import math

import numpy as np

from game.handstate import HAND, HAND_FIELDS, VOICE_FIELDS
from game.logfiles import SYNTH_COLUMNS
from game.pause import PAUSED
from game.pitchmap import PitchMap

TWO_PI = 2.0 * math.pi
HARMONICS = (1.0, 0.25, 0.1)           # gentle 2nd and 3rd partials over the sine
NORM = 1.0 / sum(HARMONICS)
ROW = ("t_dac", "midi", "hz", "amplitude", "frame_index", "t_capture", "underflow")
CSV_HEADER = SYNTH_COLUMNS
NO_SPEAKER = "no speaker: playing silently, the session's sound is still saved in performance.wav"

_P, _AREA, _FRAME, _TCAP = HAND["present"], HAND["area"], HAND["frame_index"], HAND["t_capture"]
_P2, _Y2 = HAND["present2"], HAND["y2"]


class Voice:
    """One block at a time of the theremin tone; all state and buffers preallocated."""

    def __init__(self, settings, pitchmap: PitchMap, hand=None, voice=None, clock=None):
        """clock: a game.pause.SongClock (None: the song never pauses)."""
        n = self.n = int(settings.block)
        self.rate = float(settings.sample_rate)
        self.hand, self.voice, self.clock = hand, voice, clock
        self.volume = float(settings.synth_volume)
        # pitch map constants: midi = low + clamp(log(area) - log_far) * scale
        self.low = pitchmap.low_midi
        self.high = pitchmap.high_midi
        self.log_far = math.log(pitchmap.area_far)
        self.log_near = math.log(pitchmap.area_near)
        self.scale = (pitchmap.high_midi - pitchmap.low_midi) / (self.log_near - self.log_far)
        glide_s = max(0.0, settings.glide_ms) / 1000.0
        self.glide = 1.0 if glide_s <= 0 else 1.0 - math.exp(-n / (glide_s * self.rate))
        self.up = n / (max(settings.attack_ms, 0.1) / 1000.0 * self.rate)    # envelope change per block
        self.down = n / (max(settings.release_ms, 0.1) / 1000.0 * self.rate)
        # state
        self.midi = self.low
        self.amp = 0.0
        self.phase = 0.0
        # buffers
        self.hand_vals = np.zeros(len(HAND_FIELDS), np.float64)
        self.voice_vals = np.zeros(len(VOICE_FIELDS), np.float64)
        self.row = np.zeros(len(ROW), np.float64)
        self.out = np.zeros(n, np.float32)
        self._ramp = np.arange(1, n + 1, dtype=np.float64) / n
        self._inc = np.zeros(n, np.float64)
        self._ph = np.zeros(n, np.float64)
        self._tmp = np.zeros(n, np.float64)
        self._wave = np.zeros(n, np.float64)

    def midi_for(self, area: float) -> float:
        """PitchMap.midi with precomputed constants (scalar math only)."""
        if area <= 0.0:
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
        target_amp = 0.0
        new_midi = self.midi
        if present:
            target_amp = self.volume
            if h[_P2] > 0.5:
                y2 = h[_Y2]
                target_amp *= 0.0 if y2 >= 1.0 else (1.0 if y2 <= 0.0 else 1.0 - y2)
            target = self.midi_for(float(h[_AREA]))
            if self.amp <= 0.0:
                self.midi = new_midi = target       # a new onset starts on its pitch, no glide from the last one
            else:
                new_midi = self.midi + (target - self.midi) * self.glide
        amp = self.amp
        if target_amp > amp:
            new_amp = min(target_amp, amp + self.up)
        else:
            new_amp = max(target_amp, amp - self.down)
        out = self.out
        if amp <= 0.0 and new_amp <= 0.0:
            out.fill(0.0)
        else:
            inc0 = TWO_PI * 440.0 * 2.0 ** ((self.midi - 69.0) / 12.0) / self.rate
            inc1 = TWO_PI * 440.0 * 2.0 ** ((new_midi - 69.0) / 12.0) / self.rate
            ramp, ph, tmp, wave = self._ramp, self._ph, self._tmp, self._wave
            np.multiply(ramp, inc1 - inc0, out=self._inc)      # per-sample phase increment, glides within the block
            np.add(self._inc, inc0, out=self._inc)
            np.add.accumulate(self._inc, out=ph)
            np.add(ph, self.phase, out=ph)
            self.phase = math.fmod(float(ph[-1]), TWO_PI)
            np.sin(ph, out=wave)
            for k in (2, 3):
                np.multiply(ph, float(k), out=tmp)
                np.sin(tmp, out=tmp)
                np.multiply(tmp, HARMONICS[k - 1], out=tmp)
                np.add(wave, tmp, out=wave)
            np.multiply(ramp, (new_amp - amp) * NORM, out=tmp)  # envelope: a linear ramp across the block
            np.add(tmp, amp * NORM, out=tmp)
            np.multiply(wave, tmp, out=wave)
            np.copyto(out, wave, casting="same_kind")
        self.midi, self.amp = new_midi, new_amp
        frame = float(h[_FRAME]) if seen else -1.0
        t_cap = float(h[_TCAP]) if seen else math.nan
        v = self.voice_vals
        v[0], v[1], v[2], v[3] = t_dac, new_midi, new_amp, frame
        if self.voice is not None:
            self.voice.write(v)
        r = self.row
        r[0], r[1], r[2], r[3] = t_dac, new_midi, 440.0 * 2.0 ** ((new_midi - 69.0) / 12.0), new_amp
        r[4], r[5], r[6] = frame, t_cap, 1.0 if underflow else 0.0
        return out


class SynthLog:
    """synth.csv rows from the drain thread, and the motion-to-sound latency figures (game/figures.py's rule)."""

    def __init__(self, path):
        from game.sessionlog import CsvLog
        self.csv = CsvLog(path, CSV_HEADER)
        self.frames: list[float] = []      # per logged block: the frame it reflects, its capture time, t_dac
        self.captures: list[float] = []
        self.dac_times: list[float] = []

    def __call__(self, rows: np.ndarray) -> None:
        for t_dac, midi, hz, amp, frame, t_cap, _uf in rows.tolist():
            has_frame = frame >= 0 and not math.isnan(t_cap)
            self.frames.append(frame)
            self.captures.append(t_cap)
            self.dac_times.append(t_dac)
            # formatted here: times to the microsecond, pitch and level to what a report needs
            self.csv.write((f"{t_dac:.6f}", f"{midi:.4f}", f"{hz:.3f}", f"{amp:.5f}", int(frame),
                            "" if math.isnan(t_cap) else f"{t_cap:.6f}",
                            f"{(t_dac - t_cap) * 1000.0:.3f}" if has_frame else ""))
        self.csv.flush()

    def percentiles(self) -> dict:
        from game.figures import first_block_latencies, percentile
        t_cap = np.asarray(self.captures, dtype=float)
        lat = first_block_latencies(self.frames, t_cap, (np.asarray(self.dac_times, dtype=float) - t_cap) * 1000.0)
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
    engine = Voice(s, PitchMap.for_song(song, s), hand, voice, clock)
    runner = OutputRunner(ctx, engine, ctx.session_dir / "synth.wav", log, NO_SPEAKER)
    try:
        play_until_stopped(ctx, runner, log, lambda: {"latency_ms": log.percentiles()})
    finally:
        engine.hand = engine.voice = engine.clock = None
        hand.close()
        voice.close()
        clock.close()
