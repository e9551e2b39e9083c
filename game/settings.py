"""One frozen settings object for a session, built once in the launcher and passed to every child.

Precedence: command-line flags > environment variables > the checkout's `.env` file > defaults. Every field can be
set in the environment as HANDTONE_<FIELD> (e.g. HANDTONE_MUSIC_VOLUME=0.3); SMTP settings use SMTP_* keys
(see .env.example).
"""
from __future__ import annotations

import dataclasses
import os
from dataclasses import dataclass, field, fields
from pathlib import Path
from typing import Mapping

ROOT = Path(__file__).resolve().parent.parent
DIFFICULTIES = {"easy": 2.0, "medium": 1.0, "hard": 0.5}  # hit tolerance in semitones
SECURITIES = ("starttls", "ssl", "none")
DETECTORS = ("auto", "landmarks", "classic")
LANDMARK_MODELS = ("lite", "full")
HANDS = ("right", "left")


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
    timeout: float = 10.0

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
    transpose: int = 0
    # audio
    sample_rate: int = 48000
    block: int = 256                     # frames per audio callback
    latency: str = "low"                 # PortAudio latency: low | high | milliseconds
    input_device: str | None = None      # index or part of a name; None: the default device
    output_device: str | None = None
    # vision
    detector: str = "auto"               # auto | landmarks | classic (auto: landmarks when its models are there)
    landmark_model: str = "lite"         # lite | full: MediaPipe Hands model size for the landmarks detector
    pitch_hand: str = "right"            # the player's hand that sets the pitch; the other sets the volume
    models_dir: str = ""                 # where the landmark models are cached ("": ~/.cache/handtone/models)
    calibration_dir: str = ""            # saved per-player calibrations ("": ~/.config/handtone/calibration)
    record_video: bool = False           # write the annotated session as session.mp4
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
    to = tuple(a.strip() for a in env.get("SMTP_TO", "").replace(";", ",").split(",") if a.strip())
    security = env.get("SMTP_SECURITY", "starttls").strip().lower() or "starttls"
    port_default = {"starttls": 587, "ssl": 465, "none": 25}.get(security, 587)
    return SmtpSettings(
        host=env.get("SMTP_HOST", "").strip(),
        port=_coerce("SMTP_PORT", int, env.get("SMTP_PORT") or port_default),
        security=security,
        user=env.get("SMTP_USER", "").strip(),
        password=env.get("SMTP_PASSWORD", ""),
        sender=env.get("SMTP_FROM", "").strip() or env.get("SMTP_USER", "").strip() or "handtone@localhost",
        to=to,
        timeout=_coerce("SMTP_TIMEOUT", float, env.get("SMTP_TIMEOUT") or 10.0),
    )


def _bad(field_name: str, text: str) -> SettingsError:
    e = SettingsError(text)
    e.field = field_name
    return e


def validate(s: Settings) -> None:
    if s.difficulty not in DIFFICULTIES:
        raise _bad("difficulty", f"difficulty must be one of {', '.join(DIFFICULTIES)}, got {s.difficulty!r}")
    for name in ("music_volume", "synth_volume"):
        v = getattr(s, name)
        if not 0.0 <= v <= 1.0:
            raise _bad(name, f"{name.replace('_', '-')} must be between 0 and 1, got {v}")
    if s.latency != "low":
        # PyAudio 0.2.14 passes no suggested latency to PortAudio: only the device's low latency is reachable
        raise _bad("latency", f"latency {s.latency!r} is not available yet: only 'low' (the device's low latency)")
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
    if s.pitch_hand not in HANDS:
        raise _bad("pitch_hand", f"pitch-hand must be one of {', '.join(HANDS)}, got {s.pitch_hand!r}")
    if not 0.0 < s.area_far < s.area_near <= 1.0:
        raise _bad("area_far", f"need 0 < area-far < area-near <= 1, got {s.area_far}, {s.area_near}")
    if s.smtp.security not in SECURITIES:
        raise SettingsError(f"SMTP_SECURITY must be one of {', '.join(SECURITIES)}, got {s.smtp.security!r}")
    if s.smtp.host and not s.smtp.to:
        raise SettingsError("SMTP_HOST is set but SMTP_TO is empty: set SMTP_TO to the address(es) to send to")
