"""Cross-file packing: several short recordings decoded through shared 30 s windows.

Kept apart from asr/packing.py (pure window arithmetic) because it drives the engine through
asr/transcribe.py, which itself packs with asr/packing.py: this way the imports flow one way.
"""

from __future__ import annotations

from collections.abc import Sequence

from speechchurn.asr import transcribe as tr
from speechchurn.asr.packing import pack, pieces_from_chunks


def transcribe_recordings(
    audios: Sequence, options, engine=None, tracks: Sequence | None = None
) -> list[list]:
    """Several (short) recordings through shared windows: cross-file packing.

    Returns one time-ordered segment list per recording, each as ``transcribe_audio`` would give it
    for that recording alone with ``packing="call"`` (roles, call-clock times, crosstalk rejection and
    hallucination filter per channel). ``tracks``: per recording, role -> SpeechTrack when the VAD
    already ran. Meant for a worker that holds a batch of short files; VAD-gated decoding only.
    """

    engine = engine or tr.load_engine(options)
    chunks, pieces = [], []
    for source, audio in enumerate(audios):
        padded, cores = tr.gated_chunks(audio, options, tracks[source] if tracks else None)
        chunks.append(padded)
        pieces += pieces_from_chunks(padded, cores, source)
    found: list[list] = [[] for _ in audios]
    for window in pack(sorted(pieces, key=lambda p: (p.source, p.start, p.role))):
        try:
            raws = engine.decode(window.audio(lambda p: audios[p.source].channels[p.role]))
        except (RuntimeError, ValueError) as e:
            names = ", ".join(sorted({audios[p.source].path.name for p in window.pieces}))
            raise tr.TranscriptionError(f"{engine.name} failed on {names}: {e}") from e
        pairs = [pair for raw in raws for pair in tr._split_by_piece(raw, window)]
        for index, seg in tr._snap_to_speech(pairs, window):
            found[window.pieces[index].source].append(seg)
    return [
        tr.merge_dialogue(
            [
                seg
                for role in audio.channels
                for seg in tr.clean_segments([s for s in found[i] if s.role == role], chunks[i][role])
            ]
        )
        for i, audio in enumerate(audios)
    ]
