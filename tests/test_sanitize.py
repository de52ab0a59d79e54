"""tests/nbval_sanitize.cfg: well-formed for both configparser and nbval, and every rule works.

Each example is a pair of outputs that differ only in run- or machine-dependent text: after
sanitizing they must be equal.  The counter-examples must stay different (or unchanged): the
sanitizers must not hide real changes in results.
"""

from __future__ import annotations

import configparser
import re
from pathlib import Path

import pytest

CFG = Path(__file__).with_name("nbval_sanitize.cfg")


def load_rules() -> list[tuple[str, str, str]]:
    """(section, regex, replace) in file order, read with configparser (no interpolation)."""
    parser = configparser.ConfigParser(interpolation=None)
    parser.read(CFG, encoding="utf-8")
    return [(name, parser[name]["regex"], parser[name]["replace"]) for name in parser.sections()]


RULES = load_rules()


def sanitize(text: str) -> str:
    """What nbval does with each output string: every rule in order, re.sub without flags."""
    for _, regex, replace in RULES:
        text = re.sub(regex, replace, text)
    return text


def test_file_is_ascii():
    CFG.read_bytes().decode("ascii")


def test_every_section_has_exactly_regex_and_replace():
    parser = configparser.ConfigParser(interpolation=None)
    parser.read(CFG, encoding="utf-8")
    assert parser.sections(), "no rules found"
    for name in parser.sections():
        assert set(parser[name]) == {"regex", "replace"}, name
        assert parser[name]["replace"], f"{name}: empty replacement (nbval would drop the rule)"
        re.compile(parser[name]["regex"])


def test_regexes_are_unique():
    # nbval keys its rules by regex: a duplicate would silently replace the earlier rule.
    regexes = [regex for _, regex, _ in RULES]
    assert len(regexes) == len(set(regexes))


def test_nbval_reads_the_same_rules():
    from nbval import plugin  # a dev dependency: missing = a failure, not a skip

    pairs = plugin.get_sanitize_patterns(CFG.read_text(encoding="utf-8"))
    assert pairs == [(regex, replace) for _, regex, replace in RULES]


SAME_AFTER_SANITIZING = {
    "iso_datetime": [
        ("Run at 2024-05-01T12:34:56.789012", "Run at 2025-11-22T03:16:00"),
        ("created 2024-05-01 12:34:56+00:00", "created 2026-01-31 23:59:01Z"),
    ],
    "iso_date": [("cache built on 2024-05-01.", "cache built on 2025-11-22.")],
    "clock_time": [("started 12:34:56", "started 03:16:00.125")],
    "duration": [
        ("Encoded in 12.3 ms", "Encoded in 1.2 s"),
        ("took 0.5s", "took 12s"),
        ("embedded 96 texts in 0.32 s", "embedded 96 texts in 1,024.5 ms"),
        ("Wall time: 1.23 s", "Wall time: 850 us"),
        (
            "CPU times: user 1.2 s, sys: 30 ms, total: 1.23 s",
            "CPU times: user 310 ms, sys: 4.1 ms, total: 314 ms",
        ),
        ("done after 3 min", "done after 2 minutes"),
    ],
    "timeit": [
        (
            "12.3 ms \u00b1 1.2 ms per loop (mean \u00b1 std. dev. of 7 runs, 100 loops each)",
            "1.05 s \u00b1 20 ms per loop (mean \u00b1 std. dev. of 7 runs, 1 loop each)",
        )
    ],
    "rate": [
        ("1234 sentences/s", "87.5 sentences/s"),
        ("throughput: 1,804.9 texts/s", "throughput: 6.0 texts/s"),
        ("12.34it/s", "2.5s/it"),
        ("45 docs/sec", "1200 docs/sec"),
    ],
    "float_3_decimals": [
        ("cosine: 0.8123456", "cosine: 0.8123999"),
        ("array([0.12345678, -0.98765432])", "array([0.1234, -0.9876])"),
        ("1.2345678e-05", "1.2349e-05"),
    ],
    "memory_address": [
        ("<Foo object at 0x7f3a2b1c9d30>", "<Foo object at 0x10d4e5f60>"),
    ],
    "device": [
        ("device: cuda:0", "device: cpu"),
        ("device: cpu (x86_64), torch threads: 2", "device: cuda (NVIDIA H100), torch threads: 16"),
        ("Using device='mps'", "Using device='cpu'"),
        ('device="cuda"', 'device="cpu"'),
        ("tensor([0.5000, 0.2500], device='cuda:0')", "tensor([0.5000, 0.2500])"),
        (
            "tensor([[1.]], device='cuda:0', dtype=torch.float16)",
            "tensor([[1.]], dtype=torch.float16)",
        ),
        ("device(type='cuda', index=0)", "device(type='cpu')"),
    ],
    "progress": [
        (
            "Batches: 100%|\u2588\u2588\u2588\u2588| 4/4 [00:00<00:00, 12.34it/s]",
            "Batches: 100%|\u2588\u2588\u2588\u2588| 4/4 [00:03<00:00,  1.21it/s]",
        ),
        ("Batches: 50%", "Batches: 100%"),
        (
            "Encoding: 100%|#####| 10/10 [00:01<00:00, 9.8it/s]",
            "Encoding: 100%|#####| 10/10 [00:05<00:00, 2.03s/it]",
        ),
        ("Loading: 7it [00:01, 5.1it/s]", "Loading: 7it [00:03, 2.0it/s]"),
    ],
    "paths": [
        (
            "Model cached at /root/.cache/embedlab/models/minilm",
            "Model cached at /home/alice/.cache/embedlab/models/minilm",
        ),
        (
            "Model cached at /Users/bob/Library/Caches/embedlab/minilm",
            "Model cached at C:\\Users\\carol\\AppData\\Local\\embedlab\\Cache\\minilm",
        ),
        (
            "Model cached at '/root/.cache/x'",
            "Model cached at 'C:\\\\Users\\\\carol\\\\AppData\\\\x'",
        ),
        ("PosixPath('/root/.cache/x')", "WindowsPath('C:/Users/me/AppData/x')"),
        ("data in /tmp/tmpab12cd/emb.npy", "data in /var/folders/xy/T/tmp9/emb.npy"),
        (
            "/work/main/.venv/lib/python3.11/site-packages/tqdm/auto.py:21: TqdmWarning",
            "/usr/local/lib/python3.12/dist-packages/tqdm/auto.py:21: TqdmWarning",
        ),
    ],
    "threads": [("threads: 16", "threads: 4"), ("num_threads=8", "num_threads=2")],
    "versions": [
        ("torch 2.13.0+cpu", "torch 2.13.1+cu124"),
        ("Python 3.11.7", "Python 3.12.1"),
        (
            "torch 2.13.0+cpu, sentence-transformers 6.2.0",
            "torch 2.14.0, sentence-transformers 6.3.1",
        ),
        ("CUDA: 12.4", "CUDA: 12.8"),
        ("torch==2.13.0", "torch==2.12.1"),
    ],
}

MUST_STAY_DIFFERENT = [
    ("cosine: 0.812", "cosine: 0.813"),  # 3 decimals are kept
    ("0.81234", "0.81334"),
    ("shape (96, 384)", "shape (96, 768)"),
    ("1536 bytes per vector", "3072 bytes per vector"),
    ("[PASSED] Step a", "[FAILED] Step a"),
    ("dims: 384", "dims: 256"),
    ("top 3 by cosine", "top 5 by cosine"),
]

MUST_STAY_UNCHANGED = [
    "96 sentences",
    "all-MiniLM-L6-v2           shape (96, 384), 1536 bytes per vector (float32)",
    "see https://example.com/home/page and https://ipywidgets.readthedocs.io/en/stable/",
    "static-MiniLM-L6-v2-256d",
    "cuda is available: True",
    "p50 ms  p95 ms  texts/s (batch 32)",
    "ratio 2:1",
    "the model uses 12 layers",
    "/rooted/path is not a home dir",
]


@pytest.mark.parametrize(
    ("first", "second"),
    [
        pytest.param(a, b, id=f"{group}-{i}")
        for group, pairs in SAME_AFTER_SANITIZING.items()
        for i, (a, b) in enumerate(pairs)
    ],
)
def test_run_dependent_text_is_equal_after_sanitizing(first, second):
    assert first != second
    assert sanitize(first) == sanitize(second), (sanitize(first), sanitize(second))


@pytest.mark.parametrize(("first", "second"), MUST_STAY_DIFFERENT)
def test_real_differences_survive(first, second):
    assert sanitize(first) != sanitize(second)


@pytest.mark.parametrize("text", MUST_STAY_UNCHANGED)
def test_ordinary_text_is_unchanged(text):
    assert sanitize(text) == text


def test_examples_cover_every_rule():
    """Every rule is exercised by at least one example (so a dead rule is noticed)."""
    examples = [text for pairs in SAME_AFTER_SANITIZING.values() for pair in pairs for text in pair]
    for name, regex, _ in RULES:
        assert any(re.search(regex, text) for text in examples), f"no example for [{name}]"


def test_placeholders_are_stable():
    assert sanitize("12.3 ms") == "<DURATION>"
    assert sanitize("device: cuda:0") == "device: <DEVICE>"
    assert sanitize("Batches: 100%|##| 1/1 [00:00<00:00, 3.0it/s]") == "Batches: <PROGRESS>"
    assert sanitize("0.123456") == "0.123"
    assert sanitize("/home/u/.cache/x") == "<PATH>"
    assert sanitize("torch 2.13.0+cpu") == "torch <VERSION>"
