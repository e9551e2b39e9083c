"""A song's own audio file as the backing: decoded (WAV, FLAC, OGG, MP3), mono, resampled from 44.1 kHz, at the
session's volume, tempo and key; files that cannot be used fall back to the rendered backing with a notice; and the
music child plays a file on the PulseAudio null sink."""
from __future__ import annotations

import dataclasses
import json
import math
import os
import time

import numpy as np
import pytest
import soundfile

from audio.backingfile import BackingFileError, decode, load_track, play_until_s
from audio.music import backing_track, render_song
from audio.resample import resample
from audio.stretch import StretchTimeout, stretch
from audio.wavfile import read_wav
from game.settings import Settings
from game.song import Note, Song, load_for
from harness import Session, fallback

SETTINGS = Settings()
RATE = SETTINGS.sample_rate
FILE_RATE = 44100
FORMATS = {"wav": ("WAV", "PCM_16"), "flac": ("FLAC", "PCM_16"), "ogg": ("OGG", "VORBIS"),
           "mp3": ("MP3", "MPEG_LAYER_III")}


def write_audio(path, x: np.ndarray, rate: int = FILE_RATE) -> str:
    """Write mono or (n, 2) samples in the format the suffix names, in blocks (libvorbis overflows its stack when
    handed a long signal in one call: python-soundfile issue 396)."""
    fmt, sub = FORMATS[path.suffix[1:]]
    x = np.asarray(x, np.float32)
    channels = 1 if x.ndim == 1 else x.shape[1]
    with soundfile.SoundFile(str(path), "w", rate, channels, format=fmt, subtype=sub) as f:
        for i in range(0, x.shape[0], 8192):
            f.write(x[i:i + 8192])
    return str(path)


def tones(plan, seconds: float, rate: int = FILE_RATE, amp: float = 0.5) -> np.ndarray:
    """Silence with tones: plan = [(start s, end s, Hz)], each with 5 ms raised-cosine edges."""
    t = np.arange(int(seconds * rate)) / rate
    x = np.zeros(t.size)
    for a, b, hz in plan:
        on = (t >= a) & (t < b)
        edge = np.clip(np.minimum(t - a, b - t) / 0.005, 0, 1)
        x += np.where(on, amp * np.sin(2 * np.pi * hz * (t - a)) * (0.5 - 0.5 * np.cos(np.pi * edge)), 0.0)
    return x.astype(np.float32)


def song_with(audio: str, until: float = 30.0) -> Song:
    """A song whose notes last until ``until`` (so the whole of a shorter file is decoded)."""
    return Song("file song", "", 120.0, (Note(0.5, until - 0.5, 60),), "", audio)


def pitch_hz(x: np.ndarray, rate: int = RATE) -> float:
    """The strongest frequency, refined by a parabola through the log spectrum's peak."""
    n = 1 << 18
    spec = np.log(np.abs(np.fft.rfft(x * np.hanning(x.size), n)) + 1e-12)
    k = int(np.argmax(spec[1:])) + 1
    a, b, c = spec[k - 1], spec[k], spec[k + 1]
    return (k + 0.5 * (a - c) / (a - 2 * b + c)) * rate / n


def semitones(a: float, b: float) -> float:
    return 12 * math.log2(a / b)


def onset(x: np.ndarray, level: float, after: float = 0.0, rate: int = RATE) -> float:
    """First time after ``after`` where the 2 ms envelope reaches ``level``."""
    w = int(0.002 * rate)
    env = np.sqrt(np.convolve(x.astype(np.float64) ** 2, np.ones(w) / w, mode="same") * 2)
    i = int(after * rate)
    return (i + int(np.argmax(env[i:] >= level))) / rate


def amplitude(x: np.ndarray) -> float:
    return math.sqrt(2 * float(np.mean(x.astype(np.float64) ** 2)))


# ---- decoding and resampling ----------------------------------------------------------------------------------------
def test_a_44k1_wav_plays_at_48k_at_its_pitch_time_and_volume(tmp_path):
    x = tones([(1.0, 2.0, 440.0)], 3.0)
    path = write_audio(tmp_path / "song.wav", np.stack([x, x], axis=1))
    track = load_track(song_with(path), SETTINGS)
    assert track.dtype == np.float32 and track.size == pytest.approx(3.0 * RATE, abs=2)
    want = 0.5 * SETTINGS.music_volume
    assert onset(track, want / 2) == pytest.approx(onset(x, 0.25, rate=FILE_RATE), abs=0.0005)
    mid = track[int(1.2 * RATE):int(1.8 * RATE)]
    assert pitch_hz(mid) == pytest.approx(440.0, abs=0.05)
    assert amplitude(mid) == pytest.approx(want, rel=0.005)
    t = np.arange(int(1.2 * RATE), int(1.8 * RATE)) / RATE
    ideal = want * np.sin(2 * np.pi * 440.0 * (t - 1.0))
    assert np.abs(mid - ideal).max() < 2e-4, "resampled sample by sample onto the 48 kHz grid (16-bit file)"
    assert np.abs(track[:int(0.99 * RATE)]).max() < 1e-4 and np.abs(track[int(2.01 * RATE):]).max() < 1e-4


@pytest.mark.parametrize("suffix", ["wav", "flac", "ogg", "mp3"])
def test_each_format_decodes_on_time_and_in_tune(tmp_path, suffix):
    path = write_audio(tmp_path / f"song.{suffix}", tones([(1.0, 2.0, 523.25)], 3.0))
    track = load_track(song_with(path), Settings(music_volume=1.0))
    assert onset(track, 0.25) == pytest.approx(1.0025, abs=0.001)   # half way up the file's 5 ms edge
    mid = track[int(1.2 * RATE):int(1.8 * RATE)]
    assert abs(semitones(pitch_hz(mid), 523.25)) < 0.01
    assert amplitude(mid) == pytest.approx(0.5, rel=0.05)


def test_stereo_is_mixed_to_mono(tmp_path):
    left, right = tones([(0.5, 2.5, 440.0)], 3.0), tones([(0.5, 2.5, 660.0)], 3.0)
    x, rate = decode(write_audio(tmp_path / "lr.wav", np.stack([left, right], axis=1)))
    assert rate == FILE_RATE and x.ndim == 1
    seg = x[int(1.0 * rate):int(2.0 * rate)].astype(np.float64)
    t = np.arange(seg.size) / rate
    for hz in (440.0, 660.0):
        got = 2 * abs(np.mean(seg * np.exp(-2j * np.pi * hz * t)))
        assert got == pytest.approx(0.25, rel=0.01), hz


def test_resampler_passes_the_band_and_stops_aliases():
    t = np.arange(2 * RATE) / RATE
    high = np.sin(2 * np.pi * 23000.0 * t)                      # above 44.1 kHz's Nyquist
    down = resample(high, RATE, FILE_RATE)
    assert 20 * math.log10(amplitude(down[2000:-2000])) < -80
    tone = np.sin(2 * np.pi * 15000.0 * np.arange(2 * FILE_RATE) / FILE_RATE)
    up = resample(tone, FILE_RATE, RATE)
    ideal = np.sin(2 * np.pi * 15000.0 * np.arange(up.size) / RATE)
    assert np.abs(up - ideal)[2000:-2000].max() < 1e-3, "15 kHz comes through, in place"
    click = np.zeros(FILE_RATE)
    click[4410] = 1.0                                           # 0.1 s
    assert np.argmax(resample(click, FILE_RATE, RATE)) == 4800, "sample 0 is time 0: no filter delay"


def test_stretch_keeps_pitch_and_a_chord_clean():
    t = np.arange(4 * FILE_RATE) / FILE_RATE
    freqs = (110.0, 220.0, 277.18, 329.63)
    x = sum(0.2 * np.sin(2 * np.pi * f * t + k) for k, f in enumerate(freqs)).astype(np.float32)
    for factor in (0.8, 1.25, 1.6):
        y = stretch(x, factor)
        assert y.size == round(x.size * factor)
        seg = y[FILE_RATE:3 * FILE_RATE].astype(np.float64)
        power = np.abs(np.fft.rfft(seg * np.blackman(seg.size))) ** 2
        f = np.fft.rfftfreq(seg.size, 1 / FILE_RATE)
        on = np.zeros(f.size, bool)
        for hz in freqs:
            on |= np.abs(f - hz) < 3
        assert 10 * math.log10(power[~on].sum() / power[on].sum()) < -35, f"energy off the chord at {factor}"
        single = stretch((0.5 * np.sin(2 * np.pi * 440 * t)).astype(np.float32), factor)
        r = np.sqrt(np.mean(single[FILE_RATE:2 * FILE_RATE].reshape(-1, 441).astype(np.float64) ** 2, axis=1))
        assert np.all(np.abs(r * math.sqrt(2) - 0.5) < 0.01), "a steady tone stays steady (no phasing)"


# ---- tempo and transpose --------------------------------------------------------------------------------------------
@pytest.mark.parametrize("tempo,transpose", [(1.25, 0), (0.8, 0), (1.0, 3), (1.0, -5), (1.2, 2), (0.9, -7)])
def test_tempo_and_transpose_on_a_file(tmp_path, tempo, transpose):
    x = tones([(1.0, 2.0, 440.0), (2.0, 3.0, 550.0)], 4.0)
    path = write_audio(tmp_path / "song.wav", x)
    settings = Settings(tempo=tempo, transpose=transpose, music_volume=1.0)
    track = load_track(song_with(path), settings)
    assert track.size / RATE == pytest.approx(4.0 / tempo, abs=0.01), "length scales by 1/tempo"
    shift = 2 ** (transpose / 12)
    for a, b, hz in ((1.0, 2.0, 440.0), (2.0, 3.0, 550.0)):
        mid = track[int((a / tempo + 0.15) * RATE):int((b / tempo - 0.15) * RATE)]
        assert abs(semitones(pitch_hz(mid), hz * shift)) < 0.01, f"{hz} Hz moved by {transpose} semitones"
        assert amplitude(mid) == pytest.approx(0.5, rel=0.06)
    assert onset(track, 0.25) == pytest.approx(1.0025 / tempo, abs=0.005), "the tone starts at its new time"
    assert np.abs(track[:int((1.0 / tempo - 0.1) * RATE)]).max() < 0.02, "silence stays silence"


# ---- what is decoded, and the end ---------------------------------------------------------------------------------
def test_only_what_the_session_plays_is_decoded_and_the_tail_fades(tmp_path):
    path = write_audio(tmp_path / "long.flac", tones([(0.0, 12.0, 330.0)], 12.0))
    song = Song("short", "", 120.0, (Note(0.5, 2.5, 60),), "", path)   # ends at 3 s; the tail is 1 s
    track = load_track(song, SETTINGS)
    assert play_until_s(song, SETTINGS) == 4.0
    assert track.size / RATE == pytest.approx(4.05, abs=0.001)
    assert amplitude(track[int(2.5 * RATE):int(2.95 * RATE)]) == pytest.approx(0.25, rel=0.01)
    assert amplitude(track[int(3.45 * RATE):int(3.55 * RATE)]) == pytest.approx(0.125, rel=0.1), "half way"
    assert not track[int(4.0 * RATE) + 1:].any()
    assert np.abs(np.diff(track[int(2.9 * RATE):])).max() < 0.25 * 2 * np.pi * 330 / RATE * 1.01, "no click"
    short = load_track(song, Settings(duration=2.0))                  # --duration ends it sooner
    assert short.size / RATE == pytest.approx(2.05, abs=0.001)


# ---- falling back ----------------------------------------------------------------------------------------------------
def garbage(tmp_path):
    p = tmp_path / "broken.ogg"
    p.write_bytes(b"OggS" + os.urandom(5000))
    return str(p)


def empty(tmp_path):
    return write_audio(tmp_path / "empty.wav", np.zeros(0, np.float32))


@pytest.mark.parametrize("make,says", [(garbage, "broken.ogg: cannot decode it"),
                                        (lambda p: str(p / "gone.ogg"), "gone.ogg: no such file"),
                                        (empty, "empty.wav: the file holds no sound")])
def test_a_file_that_cannot_be_used_falls_back_with_a_notice(tmp_path, make, says):
    song = dataclasses.replace(load_for(SETTINGS), audio=make(tmp_path))
    notices = []
    track, facts = backing_track(song, SETTINGS, notices.append)
    assert len(notices) == 1 and "\n" not in notices[0] and says in notices[0], notices
    assert notices[0].endswith("playing a backing made from its notes")
    assert facts["backing"] == "rendered" and says in facts["audio_error"]
    assert np.array_equal(track, render_song(song, SETTINGS))


def test_a_stretch_that_would_miss_the_start_falls_back(tmp_path):
    path = write_audio(tmp_path / "song.wav", tones([(0.0, 20.0, 440.0)], 20.0))
    with pytest.raises(StretchTimeout):
        stretch(decode(path)[0], 1.3, deadline=time.monotonic() + 0.001)
    song = song_with(path)
    with pytest.raises(BackingFileError, match="would not be ready in time"):
        load_track(song, Settings(tempo=1.3), deadline=time.monotonic() + 0.001)
    notices = []
    track, facts = backing_track(song, Settings(tempo=1.3), notices.append, budget_s=0.001)
    assert facts["backing"] == "rendered" and "would not be ready in time" in notices[0]
    track, facts = backing_track(song, Settings(tempo=1.3), notices.append, budget_s=30.0)
    assert facts["backing"] == "file" and len(notices) == 1


# ---- the music child with a file, on the null sink ------------------------------------------------------------------
AUDIO_ENV = "HANDTONE_TEST_BACKING_AUDIO"


def run_music_with_audio(ctx) -> None:
    """The music child, its song given the audio file named in the environment (the importers that fill Song.audio
    are tested with the songs; here the file is what matters)."""
    from audio import music
    song = dataclasses.replace(load_for(ctx.settings), audio=os.environ[AUDIO_ENV])
    ctx.song = lambda: song
    music.run(ctx)


@pytest.fixture
def session(tmp_path, request):
    s = Session(tmp_path / "session", request.node.name[:20])
    yield s
    s.close()


def play_child(session, audio: str, seconds: float, settings=SETTINGS) -> dict:
    session.start("music", "test_music_file:run_music_with_audio", settings, env=dict(os.environ, **{AUDIO_ENV: audio}))
    session.wait_ready(30)
    session.go_in(0.3)
    while session.now() < seconds:
        time.sleep(0.05)
    assert session.finish() == {"music": 0}, session.drain_messages()
    return json.loads((session.dir / "stats-music.json").read_text())


def test_the_music_child_plays_the_file(pulse, session, tmp_path):
    song = load_for(SETTINGS)
    first = song.notes[0].start
    x = tones([(first, first + 1.5, 392.0)], first + 3.0)
    path = write_audio(tmp_path / "song.ogg", np.stack([x, x], axis=1))
    st = play_child(session, path, first + 2.0)
    assert st["mode"] == "device", fallback(st)
    assert st["backing"] == "file" and st["audio"] == path and st["backend"] == "pyaudio"
    assert 0 < st["prepare_s"] < 5
    rate, played = read_wav(session.dir / "backing.wav")
    i0 = int(round(st["wav_t_start"] * rate))
    seg = played[int((first + 0.3) * rate) - i0:int((first + 1.2) * rate) - i0]
    assert abs(semitones(pitch_hz(seg, rate), 392.0)) < 0.02
    assert amplitude(seg) == pytest.approx(0.5 * SETTINGS.music_volume, rel=0.05)
    assert onset(played, 0.1, after=first - 0.5 - st["wav_t_start"], rate=rate) + st["wav_t_start"] == \
        pytest.approx(first, abs=0.003), "the file's time is song time"
    assert not [m for m in session.drain_messages() if m[0] == "notice"]


def test_the_music_child_tells_and_renders_when_the_file_is_broken(pulse, session, tmp_path):
    st = play_child(session, garbage(tmp_path), 1.0)
    assert st["backing"] == "rendered" and "cannot decode it" in st["audio_error"]
    notices = [m for m in session.drain_messages() if m[0] == "notice"]
    assert len(notices) == 1 and notices[0][1] == "music" and "broken.ogg: cannot decode it" in notices[0][2]
