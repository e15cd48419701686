"""Decoding settings: every text-changing option is in the cache key; echo chunks are not decoded."""

from __future__ import annotations

import dataclasses
import json

import numpy as np
import pytest

from speechchurn.asr.crosstalk import crosstalk_share, drop_crosstalk_chunks
from speechchurn.asr.transcribe import TranscribeOptions, VadOptions

SR = 16_000


@pytest.mark.parametrize(
    "change",
    [
        {"initial_prompt": "以下是普通话的句子。"},
        {"hotwords": "联通 电信"},
        {"patience": 2.0},
        {"no_speech_threshold": None},
        {"log_prob_threshold": None},
        {"repetition_penalty": 1.1},
        {"no_repeat_ngram_size": 3},
        {"beam_size": 2},
        {"vad_options": VadOptions(threshold=0.35)},
        {"vad_options": VadOptions(speech_pad_ms=300)},
        {"vad_options": VadOptions(crosstalk_rejection_db=25.0)},
        {"vad_options": VadOptions(crosstalk_rejection_db=10.0)},
    ],
)
def test_text_changing_settings_change_the_cache_key(change):
    base = TranscribeOptions()
    assert dataclasses.replace(base, **change).cache_key() != base.cache_key()


def test_threads_do_not_change_the_cache_key():
    assert TranscribeOptions(cpu_threads=1).cache_key() == TranscribeOptions(cpu_threads=2).cache_key()
    json.loads(TranscribeOptions().cache_key())  # plain JSON


def _noise(seconds: float, rms: float, seed: int) -> np.ndarray:
    return (rms * np.random.default_rng(seed).standard_normal(int(seconds * SR))).astype(np.float32)


def test_echo_chunk_is_dropped_and_talk_over_kept():
    # 0-1 s: agent talks, the customer channel has only its echo 30 dB down;
    # 1-2 s: both talk at similar levels (talk-over is real speech)
    agent = np.concatenate([_noise(1, 0.1, 1), _noise(1, 0.1, 2)])
    customer = np.concatenate([0.03 * agent[:SR], _noise(1, 0.08, 3)])
    echo, talk_over = {"start": 0, "end": SR}, {"start": SR, "end": 2 * SR}
    assert crosstalk_share(customer, agent, echo, 15.0) > 0.9
    assert crosstalk_share(customer, agent, talk_over, 15.0) == 0.0
    chunks = {"agent": [echo, talk_over], "customer": [echo, talk_over]}
    kept, cores = drop_crosstalk_chunks({"agent": agent, "customer": customer}, chunks, chunks, 15.0)
    assert kept == cores == {"agent": [echo, talk_over], "customer": [talk_over]}
