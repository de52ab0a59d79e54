"""Timing with real models: CPU time beside the wall clock, the torch thread count set for a
measurement and restored, and Lab 2's interleaved rounds (the order, the warm-up, the
summary). No assertion depends on how fast this machine is."""

from __future__ import annotations

import numpy as np
import pytest
import torch

import embedlab
from embedlab import timing
from embedlab.errors import InvalidInputError
from embedlab.labs import lab2

QUERIES = ["how do I reset my password", "refund still missing", "jet lag tips"]


class Recorder:
    """A real model that logs each call (method, texts, torch threads at the time)."""

    def __init__(self, model, name: str, log: list) -> None:
        self.model, self.name, self.log = model, name, log
        self.device = model.device

    def modules(self):
        return self.model.modules()

    def encode_query(self, texts, **kw):
        self.log.append((self.name, "query", list(texts), torch.get_num_threads()))
        return self.model.encode_query(texts, **kw)

    def encode_document(self, texts, **kw):
        self.log.append((self.name, "document", list(texts), torch.get_num_threads()))
        return self.model.encode_document(texts, **kw)


def test_measure_latency_times_both_clocks_with_the_threads_asked(static_model):
    log: list = []
    before = torch.get_num_threads()
    result = timing.measure_latency(Recorder(static_model, "s", log), QUERIES, warmup=2, threads=1)
    assert torch.get_num_threads() == before
    assert [call[2] for call in log] == [[q] for q in QUERIES[:2] + QUERIES]
    assert {call[3] for call in log} == {1}
    for clock in ("", "cpu_"):
        samples = result[f"{clock}samples_ms"]
        assert len(samples) == 3 and min(samples) >= 0
        assert result[f"{clock}p50_ms"] == pytest.approx(np.percentile(samples, 50))
        assert result[f"{clock}p95_ms"] == pytest.approx(np.percentile(samples, 95))


def test_torch_threads_restores_the_count_even_after_an_error():
    before = torch.get_num_threads()
    with pytest.raises(RuntimeError, match="inside"):
        with timing.torch_threads(1):
            assert torch.get_num_threads() == 1
            raise RuntimeError("inside")
    assert torch.get_num_threads() == before
    with timing.torch_threads(None):
        assert torch.get_num_threads() == before
    with pytest.raises(InvalidInputError, match="threads must be a positive integer"):
        with timing.torch_threads(0):
            pass


def test_batch_sweep_with_one_thread(static_model):
    log: list = []
    before = torch.get_num_threads()
    sweep = embedlab.batch_sweep(
        Recorder(static_model, "s", log), QUERIES * 2, (1, 2), repeats=1, threads=1
    )
    assert sweep.index.tolist() == [1, 2] and (sweep["texts_per_s"] > 0).all()
    assert {call[3] for call in log} == {1} and torch.get_num_threads() == before


def test_measure_rounds_interleaves_the_models(minilm, static_model):
    log: list = []
    models = {
        "minilm": Recorder(minilm, "minilm", log),
        "static": Recorder(static_model, "static", log),
    }
    before = torch.get_num_threads()
    latency = lab2.measure_rounds(models, QUERIES, rounds=3, warmup=2)
    assert torch.get_num_threads() == before
    assert {call[3] for call in log} == {1}  # one thread, as a serving worker runs
    order = [name for name, *_ in log]
    warm = ["minilm", "minilm", "static", "static"]
    rounds = ["minilm"] * 3 + ["static"] * 3 + ["static"] * 3 + ["minilm"] * 3
    assert order == warm + rounds + ["minilm"] * 3 + ["static"] * 3  # the order rotates
    table = latency.rounds
    assert len(table) == 6 and table.groupby("model")["round"].apply(list).to_dict() == {
        "minilm": [1, 2, 3],
        "static": [1, 2, 3],
    }
    assert latency.compute_params["static"] == 0 < latency.compute_params["minilm"]
    assert latency.n_queries == 3 and latency.threads == 1 and latency.basis == "cpu"
    assert latency.cores >= 1 and len(latency.load) == 2
    summary = latency.summary
    per_round = latency.per_round()
    assert per_round.shape == (3, 2) and list(per_round.columns) == ["minilm", "static"]
    assert summary.loc["minilm", "p95_ms"] == per_round["minilm"].median()
    assert summary.loc["minilm", "p95_min"] == per_round["minilm"].min()
    assert summary.loc["static", "wall_p95_ms"] == table[table.model == "static"]["p95_ms"].median()
    assert "Only 3 queries per round" in " ".join(latency.findings())
    text = str(latency)
    assert "p95 ms" in text and "range" in text and ("quiet" in text or "busy" in text)


def test_measure_rounds_input_errors(static_model):
    with pytest.raises(InvalidInputError, match="non-empty dict"):
        lab2.measure_rounds({}, QUERIES)
    with pytest.raises(InvalidInputError, match="rounds must be a positive integer"):
        lab2.measure_rounds({"s": static_model}, QUERIES, rounds=0)
    with pytest.raises(InvalidInputError, match="queries is an empty list"):
        lab2.measure_rounds({"s": static_model}, [])
