# Copyright 2026 espnet-echo developers
#  Apache 2.0
"""Speaker inventory (flite and espeak-ng voices with pitch/rate perturbations) and TTS.

A speaker is one TTS voice with fixed perturbation settings. Speaker ids are
``<engine>-<voice>[-p<pitch>][-r<rate>]`` where the values are the engine's own settings:

* ``flite``: ``voice`` is a flite voice (``kal``, ``kal16``, ``awb``, ``rms``, ``slt``);
  ``pitch`` is ``int_f0_target_mean`` in Hz and ``rate`` is ``duration_stretch`` in percent
  (``r115`` = 15 % slower).
* ``espeak``: ``voice`` is ``<language>+<variant>`` as espeak-ng's ``-v`` takes it
  (``en-us+f2``); ``pitch`` is ``-p`` (0..99) and ``rate`` is ``-s`` (words per minute).
"""

import functools
import re
import subprocess
import tempfile
from dataclasses import dataclass
from pathlib import Path
from typing import Dict, FrozenSet, List, Optional, Sequence, Tuple

import numpy as np
import soundfile

from espnet_echo.simulate.errors import SimulateError, UnknownVoiceError, require_binary
from espnet_echo.utils.audio import AudioError, load_audio, resample_audio

ENGINES = ("flite", "espeak")
ENGINE_BINARIES = {"flite": "flite", "espeak": "espeak-ng"}

# flite voices -> (low, high) int_f0_target_mean in Hz around the voice's own mean, or
# None where the voice ignores the setting (rms is a clustergen voice with its own F0 model).
FLITE_PITCHES: Dict[str, Optional[Tuple[int, int]]] = {
    "awb": (100, 155),
    "kal": (80, 120),
    "kal16": (80, 120),
    "rms": None,
    "slt": (140, 200),
}
FLITE_RATES = (85, 115)  # duration_stretch in percent
ESPEAK_LANGUAGES = ("en-us", "en-gb", "en-gb-scotland", "en-gb-x-rp", "en-029")
ESPEAK_VARIANTS = ("m1", "m2", "m3", "m4", "f1", "f2", "f3", "f4")
ESPEAK_PERTURBATIONS: Tuple[Tuple[Optional[int], Optional[int]], ...] = (
    (None, None),
    (35, 150),
    (65, 200),
)
# The same recorded person behind several flite voices (for speaker-disjoint splits).
_FLITE_PERSON = {"kal16": "kal"}
_ID_RE = re.compile(r"^(flite|espeak)-(.+?)(?:-p(\d+))?(?:-r(\d+))?$")
_TIMEOUT_S = 120


@dataclass(frozen=True)
class Speaker:
    """One simulated speaker: a TTS voice plus fixed pitch/rate settings.

    Attributes:
        engine: ``"flite"`` or ``"espeak"``.
        voice: flite voice name, or espeak-ng ``<language>+<variant>``.
        pitch: Engine pitch setting (see module docstring) or None for the default.
        rate: Engine rate setting (see module docstring) or None for the default.
    """

    engine: str
    voice: str
    pitch: Optional[int] = None
    rate: Optional[int] = None

    @property
    def spk_id(self) -> str:
        """``<engine>-<voice>[-p<pitch>][-r<rate>]``."""
        out = f"{self.engine}-{self.voice}"
        if self.pitch is not None:
            out += f"-p{self.pitch}"
        if self.rate is not None:
            out += f"-r{self.rate}"
        return out

    @property
    def base_voice(self) -> str:
        """Identity of the underlying voice (same for all perturbations of one person).

        Splits are made over base voices so that no person appears in two splits, and a
        mixture never holds two perturbations of the same person.
        """
        voice = self.voice
        if self.engine == "flite":
            voice = _FLITE_PERSON.get(voice, voice)
        return f"{self.engine}-{voice}"

    @classmethod
    def from_id(cls, spk_id: str) -> "Speaker":
        """Parse a speaker id written by :attr:`spk_id`.

        Raises:
            UnknownVoiceError: the id does not have the ``<engine>-<voice>...`` form.
        """
        m = _ID_RE.match(spk_id)
        if not m:
            raise UnknownVoiceError(
                f"bad speaker id {spk_id!r}: expected <engine>-<voice>[-p<pitch>][-r<rate>] "
                f"with engine in {ENGINES}"
            )
        pitch = int(m.group(3)) if m.group(3) else None
        rate = int(m.group(4)) if m.group(4) else None
        return cls(m.group(1), m.group(2), pitch, rate)


def build_inventory(engines: Sequence[str] = ENGINES) -> List[Speaker]:
    """The fixed speaker inventory, sorted by speaker id.

    flite: 5 voices x {default, 2 pitches, 2 rates} (rms: no pitch) = 23 speakers.
    espeak-ng: 5 English accents x 8 variants x 3 pitch/rate settings = 120 speakers.

    Args:
        engines: Subset of :data:`ENGINES` to include.

    Returns:
        Speakers sorted by :attr:`Speaker.spk_id` (no engine binary is called).

    Raises:
        UnknownVoiceError: an unknown engine name.
    """
    for engine in engines:
        if engine not in ENGINES:
            raise UnknownVoiceError(
                f"unknown TTS engine {engine!r}; known: {', '.join(ENGINES)}"
            )
    speakers = []
    if "flite" in engines:
        for voice, pitches in FLITE_PITCHES.items():
            speakers.append(Speaker("flite", voice))
            for pitch in pitches or ():
                speakers.append(Speaker("flite", voice, pitch=pitch))
            for rate in FLITE_RATES:
                speakers.append(Speaker("flite", voice, rate=rate))
    if "espeak" in engines:
        for lang in ESPEAK_LANGUAGES:
            for variant in ESPEAK_VARIANTS:
                for pitch, rate in ESPEAK_PERTURBATIONS:
                    speakers.append(Speaker("espeak", f"{lang}+{variant}", pitch, rate))
    return sorted(speakers, key=lambda s: s.spk_id)


@functools.lru_cache(maxsize=None)
def _list_voices(exe: str, engine: str) -> Tuple[FrozenSet[str], FrozenSet[str]]:
    """(languages or voices, variants) the installed engine provides."""
    if engine == "flite":
        out = subprocess.run([exe, "-lv"], capture_output=True, text=True, check=False).stdout
        return frozenset(out.split(":", 1)[-1].split()), frozenset()
    langs = set()
    out = subprocess.run([exe, "--voices"], capture_output=True, text=True, check=False).stdout
    for line in out.splitlines()[1:]:
        fields = line.split()
        if len(fields) >= 5 and not fields[4].startswith("mb/"):  # mbrola needs extra data
            langs.add(fields[1])
    variants = set()
    out = subprocess.run(
        [exe, "--voices=variant"], capture_output=True, text=True, check=False
    ).stdout
    for line in out.splitlines()[1:]:
        m = re.search(r"\s!v/(\S+)", line)
        if m:
            variants.add(m.group(1))
    return frozenset(langs), frozenset(variants)


def check_speaker(speaker: Speaker) -> str:
    """Check that the engine is installed and provides the voice; return the binary path.

    Raises:
        MissingBinaryError: the engine binary is not on ``PATH``.
        UnknownVoiceError: unknown engine or voice, or a setting out of range.
    """
    if speaker.engine not in ENGINES:
        raise UnknownVoiceError(
            f"speaker {speaker.spk_id}: unknown TTS engine {speaker.engine!r}; "
            f"known: {', '.join(ENGINES)}"
        )
    exe = require_binary(ENGINE_BINARIES[speaker.engine])
    names, variants = _list_voices(exe, speaker.engine)
    if speaker.engine == "flite":
        if speaker.voice not in names:
            raise UnknownVoiceError(
                f"speaker {speaker.spk_id}: unknown flite voice {speaker.voice!r}; "
                f"installed: {', '.join(sorted(names))}"
            )
        if speaker.pitch is not None and not 40 <= speaker.pitch <= 500:
            raise UnknownVoiceError(
                f"speaker {speaker.spk_id}: flite pitch must be 40..500 Hz"
            )
        if speaker.rate is not None and not 30 <= speaker.rate <= 300:
            raise UnknownVoiceError(f"speaker {speaker.spk_id}: flite rate must be 30..300 %")
    else:
        lang, _, variant = speaker.voice.partition("+")
        if lang not in names:
            raise UnknownVoiceError(
                f"speaker {speaker.spk_id}: unknown espeak-ng language/voice {lang!r}; "
                f"see 'espeak-ng --voices'"
            )
        if variant and variant not in variants:
            raise UnknownVoiceError(
                f"speaker {speaker.spk_id}: unknown espeak-ng variant {variant!r}; "
                f"see 'espeak-ng --voices=variant'"
            )
        if speaker.pitch is not None and not 0 <= speaker.pitch <= 99:
            raise UnknownVoiceError(f"speaker {speaker.spk_id}: espeak-ng pitch must be 0..99")
        if speaker.rate is not None and not 80 <= speaker.rate <= 450:
            raise UnknownVoiceError(
                f"speaker {speaker.spk_id}: espeak-ng rate must be 80..450"
            )
    return exe


def trim_silence(
    wav: np.ndarray, fs: int = 16000, threshold_db: float = -40.0, pad_ms: float = 20.0
) -> np.ndarray:
    """Cut leading and trailing samples quieter than ``threshold_db`` below the peak.

    Args:
        wav: ``(T,)`` signal.
        fs: Sample rate.
        threshold_db: Level relative to the absolute peak under which samples are silence.
        pad_ms: Silence kept on each side.

    Returns:
        The trimmed view (empty if ``wav`` is all zeros).
    """
    mag = np.abs(wav)
    peak = float(mag.max()) if mag.size else 0.0
    if peak == 0.0:
        return wav[:0]
    idx = np.flatnonzero(mag > peak * 10.0 ** (threshold_db / 20.0))
    pad = int(round(pad_ms * fs / 1000.0))
    return wav[max(idx[0] - pad, 0) : min(idx[-1] + 1 + pad, wav.size)]


def _command(exe: str, speaker: Speaker, text_file: Path, wav_file: Path) -> List[str]:
    if speaker.engine == "flite":
        cmd = [exe, "-voice", speaker.voice]
        if speaker.rate is not None:
            cmd += ["--setf", f"duration_stretch={speaker.rate / 100.0:g}"]
        if speaker.pitch is not None:
            cmd += ["--setf", f"int_f0_target_mean={speaker.pitch}"]
        return cmd + ["-f", str(text_file), "-o", str(wav_file)]
    cmd = [exe, "-v", speaker.voice]
    if speaker.pitch is not None:
        cmd += ["-p", str(speaker.pitch)]
    if speaker.rate is not None:
        cmd += ["-s", str(speaker.rate)]
    return cmd + ["-w", str(wav_file), "-f", str(text_file)]


def synthesize(speaker: Speaker, text: str, fs: int = 16000) -> np.ndarray:
    """Speak ``text`` with ``speaker``.

    The text is spoken in lower case (TTS engines spell out upper-case words); the output
    is resampled to ``fs`` (flite ``kal`` is 8 kHz, espeak-ng 22.05 kHz) and leading and
    trailing silence is trimmed.

    Args:
        speaker: Who speaks.
        text: What to say (e.g. a normalised transcript).
        fs: Output sample rate.

    Returns:
        float32 mono ``(T,)`` signal at ``fs``.

    Raises:
        MissingBinaryError: the engine binary is not on ``PATH``.
        UnknownVoiceError: the engine does not provide the voice.
        SimulateError: the engine fails or produces silence.
    """
    exe = check_speaker(speaker)
    with tempfile.TemporaryDirectory(prefix="echo_tts_") as tmp:
        text_file, wav_file = Path(tmp) / "text.txt", Path(tmp) / "out.wav"
        text_file.write_text(text.lower() + "\n", encoding="utf-8")
        cmd = _command(exe, speaker, text_file, wav_file)
        try:
            proc = subprocess.run(cmd, capture_output=True, text=True, timeout=_TIMEOUT_S)
        except (OSError, subprocess.SubprocessError) as e:
            raise SimulateError(f"speaker {speaker.spk_id}: {cmd[0]} failed: {e}") from e
        if proc.returncode != 0:
            raise SimulateError(
                f"speaker {speaker.spk_id}: {' '.join(cmd[:3])} ... exited with "
                f"{proc.returncode}: {proc.stderr.strip()[:300]}"
            )
        try:
            native_fs = soundfile.info(str(wav_file)).samplerate
            wav = load_audio(wav_file, fs=native_fs, allow_silent=False)
        except (AudioError, RuntimeError) as e:
            raise SimulateError(
                f"speaker {speaker.spk_id}: no usable audio for {text!r}: {e}"
            ) from e
    if native_fs != fs:
        wav = resample_audio(wav, native_fs, fs)
    wav = trim_silence(wav, fs)
    if wav.size == 0:
        raise SimulateError(f"speaker {speaker.spk_id}: synthesised silence for {text!r}")
    return np.ascontiguousarray(wav, dtype=np.float32)
