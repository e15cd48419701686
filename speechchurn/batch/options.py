"""What a batch run is asked to do, and the one place where its cache keys are built.

`AnalyzeOptions` nests every per-stage option object (transcription incl. VAD, audio channels,
acoustics thresholds, time zone). Its key methods decide when a stored transcript or a stored call
can be reused:

* `transcript_key`: audio content + every setting that changes the text (engine, model, language,
  beam, compute type, temperatures, VAD on/off and VAD settings, channel roles and selection, and
  the mono-call diarization: its settings, version and the role cues' content);
* `analysis_key`: every setting that changes features computed from a transcript (lexicon
  *content*, never its file paths; non-talk threshold; channel roles; time zone);
* `run_key`: both of the above plus the call's metadata.
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import asdict, dataclass
from pathlib import Path

from speechchurn.asr.transcribe import TranscribeOptions
from speechchurn.call.audio import AudioOptions
from speechchurn.call.metadata import CallMeta
from speechchurn.call.roles import RoleOptions, load_cues
from speechchurn.text.lexicon import Lexicon
from speechchurn.vocab import DEFAULT_TIMEZONE

EXECUTOR_LOCAL = "local"
EXECUTOR_DASK = "dask"
EXECUTORS = (EXECUTOR_LOCAL, EXECUTOR_DASK)
DEFAULT_NON_TALK_MIN_S = 3.0  # s; Contact Lens definition of non-talk time
DIARIZE_VERSION = 1  # bump when the diarization changes which words get which role


@dataclass(frozen=True)
class AnalyzeOptions:
    transcribe: TranscribeOptions = TranscribeOptions()
    audio: AudioOptions = AudioOptions()
    manifest: Path | None = None
    lexicons: Path | None = None
    filename_pattern: str | None = None
    timezone: str = DEFAULT_TIMEZONE
    non_talk_min_s: float = DEFAULT_NON_TALK_MIN_S
    workers: int = 1
    executor: str = EXECUTOR_LOCAL  # local | dask
    scheduler: str | None = None  # dask scheduler address, tcp://HOST:PORT
    roles: RoleOptions = RoleOptions()  # mono calls: diarization into agent / customer

    def roles_key(self) -> str:
        """Role settings and cue content: they decide the roles of a mono call's segments."""
        if not self.roles.diarize:
            return "roles:off"
        settings = json.dumps(asdict(self.roles), sort_keys=True)
        return f"roles:{DIARIZE_VERSION}:{load_cues().fingerprint}:{settings}"

    def transcript_key(self, sha256: str) -> str:
        """Audio content plus every setting that changes the transcript text."""
        audio = self.audio
        payload = (
            f"{sha256}|{self.transcribe.cache_key()}|{','.join(audio.channel_roles)}|{audio.channel_select}"
            f"|{self.roles_key()}"
        )
        return hashlib.sha256(payload.encode()).hexdigest()

    def analysis_key(self, lexicon: Lexicon) -> str:
        """What, besides the transcript, changes a call's features."""
        fields = {
            "lexicons": lexicon_fingerprint(lexicon),
            "non_talk_min_s": self.non_talk_min_s,
            "channels": list(self.audio.channel_roles),
            "timezone": self.timezone,
        }
        return json.dumps(fields, sort_keys=True)

    @staticmethod
    def run_key(transcript_key: str, analysis_key: str, meta: CallMeta) -> str:
        """A stored call is current when this matches: transcript, analysis settings and metadata."""
        payload = {"t": transcript_key, "a": analysis_key, "m": _meta_dict(meta)}
        return hashlib.sha256(json.dumps(payload, sort_keys=True, default=str).encode()).hexdigest()


def lexicon_fingerprint(lexicon: Lexicon) -> str:
    """sha256 of the lexicon's content (category names, terms, weights); file paths play no part."""
    content = [[c.name, [[t.text, t.weight] for t in c.terms]] for c in lexicon.categories]
    return hashlib.sha256(json.dumps(content, ensure_ascii=False).encode()).hexdigest()


def _meta_dict(meta: CallMeta) -> dict:
    data = asdict(meta)
    data["started_at"] = meta.started_at.isoformat()
    return data
