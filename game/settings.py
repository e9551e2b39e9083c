"""One frozen settings object for a session, built once in the launcher and passed to every child.

Precedence: command-line flags > environment variables > the checkout's `.env` file > defaults. Every field can be
set in the environment as HANDTONE_<FIELD> (e.g. HANDTONE_MUSIC_VOLUME=0.3); SMTP settings use SMTP_* keys
(see .env.example).
"""
from __future__ import annotations

import dataclasses
import os
import re
from dataclasses import dataclass, field, fields
from pathlib import Path
from typing import Mapping

ROOT = Path(__file__).resolve().parent.parent
DIFFICULTIES = {"easy": 2.0, "medium": 1.0, "hard": 0.5}  # hit tolerance in semitones
SECURITIES = ("starttls", "ssl", "none")
DETECTORS = ("auto", "landmarks", "classic")
LANDMARK_MODELS = ("lite", "full")
HANDS = ("right", "left")
SNAPS = ("off", "scale", "chromatic")
MUSIC_BACKENDS = ("pyaudio", "simpleaudio")


LATENCIES = ("low", "high")


def latency_ms(text: str) -> float | None:
    """--latency as milliseconds when it is a number (1..1000), else None ("low", "high", or not valid)."""
    try:
        ms = float(text)
    except (TypeError, ValueError):
        return None
    return ms if 1.0 <= ms <= 1000.0 else None


def delay_ms(text: str) -> float | None:
    """--delay as milliseconds when it is a number (-1000..1000), else None ("auto", or not valid)."""
    try:
        ms = float(text)
    except (TypeError, ValueError):
        return None
    return ms if -1000.0 <= ms <= 1000.0 else None


def data_path(settings) -> Path:
    """Where history.sqlite and outbox/ live: settings.data_dir, else the platform's user data folder
    (~/.local/share/handtone on Linux, honouring XDG_DATA_HOME)."""
    if settings.data_dir:
        return Path(settings.data_dir).expanduser()
    from game.userdirs import data_dir
    return data_dir()


class SettingsError(ValueError):
    """A setting that cannot be used; the message says which and what to do."""


@dataclass(frozen=True)
class SmtpSettings:
    host: str = ""
    port: int = 587
    security: str = "starttls"
    user: str = ""
    password: str = field(default="", repr=False)  # never printed, logged or written
    sender: str = ""
    to: tuple[str, ...] = ()
    timeout: float = 10.0              # seconds to wait for the server at each step
    retries: int = 3                   # further attempts after a failed send (1 s, 2 s, 4 s apart); 0: one try only
    attach_max_mb: float = 10.0        # performance.wav is attached only when the whole message stays under this
    cafile: str = ""                   # a CA certificate (PEM) to trust instead of the system's ("": the system's)

    @property
    def configured(self) -> bool:
        return bool(self.host and self.to)

    def __str__(self) -> str:
        return f"smtp://{self.user + '@' if self.user else ''}{self.host}:{self.port} ({self.security})"


@dataclass(frozen=True)
class Settings:
    camera: str = "0"
    song: str = "ode_to_joy"
    duration: float | None = None        # stop after this many seconds of song time (None: when the song ends)
    out_dir: str = "sessions"
    window: bool = True
    difficulty: str = "medium"
    player: str = "Player"
    music_volume: float = 0.5
    synth_volume: float = 0.6
    transpose: int = 0                   # semitones; applied downstream (pitch map, backing, lane, score), not at load
    tempo: float = 1.0                   # song speed factor applied when the song loads (1.25: a quarter faster)
    # songs (game/song.py and its importers)
    voice: int = 1                       # duet songs (UltraStar P1/P2): the voice to play
    track: str | None = None             # MIDI songs: the melody track, an index or part of its name (None: auto)
    songs_dir: str = ""                  # the player's own songs ("": platformdirs user data dir / songs)
    # audio
    sample_rate: int = 48000
    block: int = 128                     # frames per audio callback
    latency: str = "low"                 # PortAudio latency: low | high | milliseconds (the hand's tone)
    # the backing is scheduled by its DAC times, so a longer buffer only absorbs stalls: it costs no timing
    music_latency: str = "high"
    input_device: str | None = None      # index or part of a name; None: the default device
    output_device: str | None = None
    music_backend: str = "pyaudio"       # pyaudio | simpleaudio (Python < 3.12 only)
    mic_delay_ms: float | None = None    # output->input round trip; None: the saved calibrate-audio result, else 0
    audio_delay_file: str = ""           # calibrate-audio results ("": the config folder, game/userdirs.py)
    # scoring (game/scoring.py) and what follows a session (history, outbox)
    octave_fold: bool = False            # a played pitch counts an octave (or more) off as the target's
    delay: str = "0"                     # player delay applied before scoring: auto (estimated) | milliseconds
    data_dir: str = ""                   # history.sqlite and outbox/ ("": the platform's user data folder)
    # vision
    detector: str = "auto"               # auto | landmarks | classic (auto: landmarks when its models are there)
    landmark_model: str = "lite"         # lite | full: MediaPipe Hands model size for the landmarks detector
    landmark_threads: int = 0            # threads the landmark model runs on in a session (0: 2 when there are 2 cores)
    pitch_hand: str = "right"            # the player's hand that sets the pitch; the other sets the volume
    models_dir: str = ""                 # where the landmark models are cached ("": the cache folder's models/)
    calibration_dir: str = ""            # saved per-player calibrations ("": the config folder's calibration/)
    record_video: bool = False           # write the annotated session as session.mp4
    loop_video: bool = False             # a video file (or the demo clip) starts again when it ends
    width: int = 640
    height: int = 480
    fps: float = 30.0
    # hand -> pitch
    pitch_margin: float = 2.0            # semitones beyond the song's range on each side
    area_far: float = 0.01               # hand area (fraction of frame) that plays the lowest pitch
    area_near: float = 0.16              # ... and the highest
    glide_ms: float = 35.0
    attack_ms: float = 12.0
    release_ms: float = 60.0
    vibrato_cents: float = 0.0           # vibrato depth (0: none)
    vibrato_hz: float = 5.5              # vibrato rate
    snap: str = "off"                    # pitch snapping: off | scale (the song's notes) | chromatic
    snap_strength: float = 0.5           # 0: no pull, 1: exactly on the note
    # session
    count_in: float = 1.0                # seconds between "all ready" and t0
    ready_timeout: float = 30.0          # a child not ready by then fails the start
    tail: float = 1.0                    # seconds played after the song's last note
    smtp: SmtpSettings = SmtpSettings()

    @property
    def tolerance(self) -> float:
        return DIFFICULTIES[self.difficulty]

    def replace(self, **changes) -> "Settings":
        return dataclasses.replace(self, **changes)


_TYPE_WORDS = {"bool": "yes/no value", "int": "whole number", "float": "number", "float | None": "number"}


def _coerce(name: str, typ, raw):
    if raw is None:
        return None
    text = str(raw).strip()
    word = _TYPE_WORDS.get(getattr(typ, "__name__", typ), str(typ))
    try:
        if typ in (bool, "bool"):
            if isinstance(raw, bool):
                return raw
            if text.lower() in ("1", "true", "yes", "on"):
                return True
            if text.lower() in ("0", "false", "no", "off"):
                return False
            raise ValueError(text)
        if typ in (int, "int"):
            return int(raw)
        if typ in (float, "float", "float | None"):
            return float(raw)
    except ValueError:
        raise SettingsError(f"{name}: {text!r} is not a {word}") from None
    return raw if not isinstance(raw, str) else text


def _env_file(env: Mapping[str, str]) -> dict:
    path = Path(env.get("HANDTONE_ENV_FILE", ROOT / ".env"))
    if not path.is_file():
        return {}
    from dotenv import dotenv_values
    return {k: v for k, v in dotenv_values(path).items() if v is not None}


def build(cli: Mapping | None = None, environ: Mapping[str, str] | None = None) -> Settings:
    """Settings from CLI values (None means 'not given'), the environment and `.env`; validated."""
    cli = dict(cli or {})
    environ = dict(os.environ if environ is None else environ)
    env = _env_file(environ) | environ  # the real environment wins over the file
    values, sources = {}, {}
    for f in fields(Settings):
        if f.name == "smtp":
            continue
        key = f"HANDTONE_{f.name.upper()}"
        if cli.get(f.name) is not None:
            raw, name = cli[f.name], "--" + f.name.replace("_", "-")
        else:
            raw, name = env.get(key), f"{key} (from {'the environment' if key in environ else '.env'})"
        if raw is not None:
            values[f.name] = _coerce(name, f.type, raw)
            sources[f.name] = name
    values["smtp"] = _smtp(env)
    settings = Settings(**values)
    try:
        validate(settings)
    except SettingsError as e:
        field_name = getattr(e, "field", None)
        if field_name in sources and not sources[field_name].startswith("--"):
            raise SettingsError(f"{e} [set by {sources[field_name]}]") from None
        raise
    return settings


def _smtp(env: Mapping[str, str]) -> SmtpSettings:
    """SMTP_* keys (see .env.example). Numbers that do not parse fail here; the rest is checked in validate."""
    to = tuple(a.strip() for a in env.get("SMTP_TO", "").replace(";", ",").split(",") if a.strip())
    security = env.get("SMTP_SECURITY", "starttls").strip().lower() or "starttls"
    port_default = {"starttls": 587, "ssl": 465, "none": 25}.get(security, 587)
    user = env.get("SMTP_USER", "").strip()
    return SmtpSettings(
        host=env.get("SMTP_HOST", "").strip(),
        port=_coerce("SMTP_PORT", int, env.get("SMTP_PORT", "").strip() or port_default),
        security=security,
        user=user,
        password=env.get("SMTP_PASSWORD", ""),
        sender=env.get("SMTP_FROM", "").strip() or (user if "@" in user else "") or "handtone@localhost",
        to=to,
        timeout=_coerce("SMTP_TIMEOUT", float, env.get("SMTP_TIMEOUT", "").strip() or 10.0),
        retries=_coerce("SMTP_RETRIES", int, env.get("SMTP_RETRIES", "").strip() or 3),
        attach_max_mb=_coerce("SMTP_ATTACH_MAX_MB", float, env.get("SMTP_ATTACH_MAX_MB", "").strip() or 10.0),
        cafile=env.get("SMTP_CAFILE", "").strip(),
    )


def _address_problem(text: str) -> str | None:
    """Why text is not one email address ("zoe@example.org" or "Zoe <zoe@example.org>"), or None."""
    from email.utils import parseaddr
    name, addr = parseaddr(text)
    if not re.fullmatch(r"[^@\s<>,;\"]+@[^@\s<>,;\"]+", addr or ""):
        return f"{text!r} is not an email address"
    if not name and text.strip() != addr:
        return f"{text!r} is not an email address"
    return None


def _validate_smtp(m: SmtpSettings) -> None:
    """The SMTP_* checks: each error names the key to fix, so a bad value stops `play` before the session."""
    where = "(in .env or the environment; see .env.example)"
    if m.security not in SECURITIES:
        raise SettingsError(f"SMTP_SECURITY must be one of {', '.join(SECURITIES)}, got {m.security!r} {where}")
    if not 1 <= m.port <= 65535:
        raise SettingsError(f"SMTP_PORT must be 1..65535 (587 for starttls, 465 for ssl), got {m.port} {where}")
    if m.host and not m.to:
        raise SettingsError("SMTP_HOST is set but SMTP_TO is empty: set SMTP_TO to the address(es) to send to")
    for a in m.to:
        if (problem := _address_problem(a)):
            raise SettingsError(f"SMTP_TO: {problem} (separate several with commas) {where}")
    if (problem := _address_problem(m.sender)):
        raise SettingsError(f"SMTP_FROM: {problem} {where}")
    if m.user and not m.password:
        raise SettingsError(f"SMTP_USER is set but SMTP_PASSWORD is empty: set both, or neither for a server "
                            f"without login {where}")
    if m.password and not m.user:
        raise SettingsError(f"SMTP_PASSWORD is set but SMTP_USER is empty: set the login name too {where}")
    if not m.timeout > 0:
        raise SettingsError(f"SMTP_TIMEOUT must be more than 0 seconds, got {m.timeout} {where}")
    if m.retries < 0:
        raise SettingsError(f"SMTP_RETRIES must be 0 or more, got {m.retries} {where}")
    if m.attach_max_mb < 0:
        raise SettingsError(f"SMTP_ATTACH_MAX_MB must be 0 or more, got {m.attach_max_mb} {where}")
    if m.cafile and not Path(m.cafile).expanduser().is_file():
        raise SettingsError(f"SMTP_CAFILE: no file {m.cafile} (a PEM CA certificate; leave empty for the "
                            f"system's) {where}")


def _bad(field_name: str, text: str) -> SettingsError:
    e = SettingsError(text)
    e.field = field_name
    return e


def validate(s: Settings) -> None:
    if not s.player.strip():
        raise _bad("player", "player must be a name (it is on the scorecard and keys your personal bests), got "
                             f"{s.player!r}; leave out --player to play as {Settings.player!r}")
    if s.difficulty not in DIFFICULTIES:
        raise _bad("difficulty", f"difficulty must be one of {', '.join(DIFFICULTIES)}, got {s.difficulty!r}")
    for name in ("music_volume", "synth_volume"):
        v = getattr(s, name)
        if not 0.0 <= v <= 1.0:
            raise _bad(name, f"{name.replace('_', '-')} must be between 0 and 1, got {v}")
    for name in ("latency", "music_latency"):
        value = getattr(s, name)
        if latency_ms(value) is None and value not in LATENCIES:
            raise _bad(name, f"{name.replace('_', '-')} must be low, high or milliseconds from 1 to 1000 (e.g. 12), "
                             f"got {value!r}")
    if s.tempo <= 0 or not 0.25 <= s.tempo <= 4.0:
        raise _bad("tempo", f"tempo must be a factor between 0.25 and 4 (1 plays the song as written), got {s.tempo}")
    if not -24 <= s.transpose <= 24:
        raise _bad("transpose", f"transpose must be -24..24 semitones, got {s.transpose}")
    if s.voice not in (1, 2):
        raise _bad("voice", f"voice must be 1 or 2 (a duet's P1 or P2), got {s.voice}")
    if s.snap not in SNAPS:
        raise _bad("snap", f"snap must be one of {', '.join(SNAPS)}, got {s.snap!r}")
    if not 0.0 <= s.snap_strength <= 1.0:
        raise _bad("snap_strength", f"snap-strength must be between 0 and 1, got {s.snap_strength}")
    if not 0.0 <= s.vibrato_cents <= 100.0:
        raise _bad("vibrato_cents", f"vibrato must be 0..100 cents, got {s.vibrato_cents}")
    if not 0.5 <= s.vibrato_hz <= 12.0:
        raise _bad("vibrato_hz", f"vibrato-hz must be 0.5..12, got {s.vibrato_hz}")
    if s.music_backend not in MUSIC_BACKENDS:
        raise _bad("music_backend", f"music-backend must be one of {', '.join(MUSIC_BACKENDS)}, "
                                    f"got {s.music_backend!r}")
    # negative is possible: a sound server's monitor hears a sample when it is mixed, before its estimated DAC time
    if s.mic_delay_ms is not None and not -1000.0 <= s.mic_delay_ms <= 1000.0:
        raise _bad("mic_delay_ms", f"mic-delay must be -1000..1000 ms, got {s.mic_delay_ms}")
    if not 32 <= s.block <= 4096:
        raise _bad("block", f"block must be 32..4096 frames, got {s.block}")
    if s.duration is not None and s.duration <= 0:
        raise _bad("duration", f"duration must be positive, got {s.duration}")
    if not 0.0 <= s.count_in <= 30.0:
        raise _bad("count_in", f"count-in must be 0..30 seconds, got {s.count_in}")
    if s.detector not in DETECTORS:
        raise _bad("detector", f"detector {s.detector!r} does not exist: use one of {', '.join(DETECTORS)}")
    if s.landmark_model not in LANDMARK_MODELS:
        raise _bad("landmark_model", f"landmark-model must be one of {', '.join(LANDMARK_MODELS)}, "
                                     f"got {s.landmark_model!r}")
    if not 0 <= s.landmark_threads <= 16:
        raise _bad("landmark_threads", f"landmark-threads must be 0 (automatic) to 16, got {s.landmark_threads}")
    if s.pitch_hand not in HANDS:
        raise _bad("pitch_hand", f"pitch-hand must be one of {', '.join(HANDS)}, got {s.pitch_hand!r}")
    if not 0.0 < s.area_far < s.area_near <= 1.0:
        raise _bad("area_far", f"need 0 < area-far < area-near <= 1, got {s.area_far}, {s.area_near}")
    if delay_ms(s.delay) is None and s.delay != "auto":
        raise _bad("delay", f"delay must be auto or milliseconds from -1000 to 1000 (e.g. 140: you play 140 ms "
                            f"late), got {s.delay!r}")
    _validate_smtp(s.smtp)
