"""The landmarks detector's model files: where they are cached, how they are fetched once, how they are checked.

MediaPipe Hands' published models (Apache-2.0) ship inside the `mediapipe` wheel on PyPI. We never install that
package (it pulls ~1 GB, numpy<2 and opencv-contrib): set-up downloads one pinned wheel file with
`pip download --no-deps`, takes the four .tflite files out, checks each against its sha256 below, and keeps them in
a cache outside the checkout. After that everything works offline.

`python -m vision.models` fetches (set-up runs it); `python -m vision.models --check` only says what is there.
"""
from __future__ import annotations

import hashlib
import os
import shutil
import subprocess
import sys
import tempfile
import zipfile
from pathlib import Path

MEDIAPIPE_VERSION = "0.10.21"
# one exact wheel file, whatever machine fetches it (the models are the same in every platform's wheel)
WHEEL_PLATFORM = "manylinux_2_28_x86_64"
WHEEL_PYTHON = "3.11"

#: file name in the cache -> (path inside the wheel, sha256)
MODELS = {
    "palm_detection_lite.tflite": ("mediapipe/modules/palm_detection/palm_detection_lite.tflite",
                                   "e9a4aaddf90dda56a87235303cf00e4c2d3fb28725f68fd88772997dac905c18"),
    "palm_detection_full.tflite": ("mediapipe/modules/palm_detection/palm_detection_full.tflite",
                                   "1b14e9422c6ad006cde6581a46c8b90dd573c07ab7f3934b5589e7cea3f89a54"),
    "hand_landmark_lite.tflite": ("mediapipe/modules/hand_landmark/hand_landmark_lite.tflite",
                                  "048edd3645c9bf7397d19a9f6e3a42957d6e414c9bea6598030a2e9b624156e6"),
    "hand_landmark_full.tflite": ("mediapipe/modules/hand_landmark/hand_landmark_full.tflite",
                                  "11c272b891e1a99ab034208e23937a8008388cf11ed2a9d776ed3d01d0ba00e3"),
}


class ModelsMissing(RuntimeError):
    """The model files are not in the cache (or are damaged); the message says how to fetch them."""


def models_dir(configured: str = "") -> Path:
    """The cache folder: settings.models_dir, else models/ in the user cache folder (game/userdirs.py:
    ~/.cache/handtone/models on Linux)."""
    if configured:
        return Path(configured).expanduser()
    from game.userdirs import cache_dir
    return cache_dir() / "models" / f"mediapipe-{MEDIAPIPE_VERSION}"


def sha256(path: Path) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as f:
        for chunk in iter(lambda: f.read(1 << 20), b""):
            h.update(chunk)
    return h.hexdigest()


def model_paths(configured: str = "", size: str = "lite", verify: bool = False) -> dict:
    """{"palm": path, "landmark": path} for the lite or full models; ModelsMissing when they are not there.

    ``verify`` also checks the sha256 (set-up does; the game trusts its cache, which only set-up writes)."""
    folder = models_dir(configured)
    paths = {"palm": folder / f"palm_detection_{size}.tflite", "landmark": folder / f"hand_landmark_{size}.tflite"}
    for path in paths.values():
        if not path.is_file():
            raise ModelsMissing(f"the landmarks models are not in {folder}: run `make setup` (or "
                                f"`.venv/bin/python -m vision.models`) once while online, or use --detector classic")
        if verify and sha256(path) != MODELS[path.name][1]:
            raise ModelsMissing(f"{path} is damaged (sha256 differs): run `.venv/bin/python -m vision.models` again")
    return paths


def missing(configured: str = "") -> list:
    """Names of the model files absent or not matching their sha256."""
    folder = models_dir(configured)
    return [name for name, (_, digest) in MODELS.items()
            if not (folder / name).is_file() or sha256(folder / name) != digest]


def fetch(configured: str = "", log=print) -> Path:
    """Download the pinned mediapipe wheel (no dependencies), extract and check the models into the cache."""
    folder = models_dir(configured)
    need = missing(configured)
    if not need:
        return folder
    folder.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(prefix="handtone-models-") as tmp:
        log(f"models: downloading mediapipe {MEDIAPIPE_VERSION}'s wheel for its hand models (once, ~36 MB)")
        cmd = [sys.executable, "-m", "pip", "download", "-q", "--no-deps", "--only-binary=:all:",
               "--platform", WHEEL_PLATFORM, "--python-version", WHEEL_PYTHON, "--implementation", "cp",
               "-d", tmp, f"mediapipe=={MEDIAPIPE_VERSION}"]
        done = subprocess.run(cmd, capture_output=True, text=True)
        if done.returncode != 0:
            last = (done.stderr.strip().splitlines() or ["pip failed"])[-1]
            raise ModelsMissing(f"could not download mediapipe {MEDIAPIPE_VERSION} ({last}): "
                                f"the landmarks detector needs it once; --detector classic works without")
        wheel = next(Path(tmp).glob("mediapipe-*.whl"))
        with zipfile.ZipFile(wheel) as zf:
            for name in need:
                inner, digest = MODELS[name]
                part = folder / (name + ".part")
                with zf.open(inner) as src, open(part, "wb") as dst:
                    shutil.copyfileobj(src, dst)
                if sha256(part) != digest:
                    part.unlink()
                    raise ModelsMissing(f"{inner} in mediapipe {MEDIAPIPE_VERSION}'s wheel has an unexpected "
                                        f"sha256: not using it")
                os.replace(part, folder / name)
    log(f"models: {len(need)} model file(s) checked and cached in {folder}")
    return folder


def main(argv=None) -> int:
    argv = sys.argv[1:] if argv is None else argv
    configured = os.environ.get("HANDTONE_MODELS_DIR", "")
    if "--check" in argv:
        gone = missing(configured)
        print(f"models in {models_dir(configured)}: " + ("all present" if not gone else "missing " + ", ".join(gone)))
        return 1 if gone else 0
    try:
        fetch(configured)
    except ModelsMissing as e:
        print(f"models: {e}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
