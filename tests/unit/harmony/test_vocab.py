import os
import shutil
import subprocess
import sys
import textwrap

import pytest

from cluster.harmony import vocab

# Every way a library could reach the network points at a closed local port.
NOWHERE = {"HTTP_PROXY": "http://127.0.0.1:9", "HTTPS_PROXY": "http://127.0.0.1:9", "ALL_PROXY": "http://127.0.0.1:9",
           "http_proxy": "http://127.0.0.1:9", "https_proxy": "http://127.0.0.1:9", "NO_PROXY": "", "no_proxy": "",
           "HF_HUB_OFFLINE": "1"}


def run_offline(code: str, tmp_path) -> subprocess.CompletedProcess:
    env = {k: v for k, v in os.environ.items() if not k.startswith("TIKTOKEN")}
    env.update(NOWHERE, TIKTOKEN_RS_CACHE_DIR=str(tmp_path / "empty-cache"), TIKTOKEN_CACHE_DIR=str(tmp_path / "c2"))
    return subprocess.run([sys.executable, "-c", textwrap.dedent(code)], env=env, capture_output=True, text=True,
                          timeout=120)


def test_vocabulary_loads_without_network(tmp_path):
    result = run_offline("""
        from cluster.harmony.vocab import harmony_encoding
        enc = harmony_encoding()
        ids = enc.encode("Hello, world", allowed_special="all")
        assert enc.decode(ids) == "Hello, world", ids
        print("ok", len(ids))
    """, tmp_path)
    assert result.returncode == 0, result.stderr[-2000:]
    assert result.stdout.startswith("ok")


def test_harmony_reads_the_file_the_package_points_at(tmp_path):
    # The control for the test above: Harmony loads the vocabulary from TIKTOKEN_ENCODINGS_BASE, so
    # the shipped, hash-checked file is the one in use (an empty directory there makes it fail).
    (tmp_path / "empty").mkdir()
    result = run_offline(f"""
        import os
        os.environ["TIKTOKEN_ENCODINGS_BASE"] = {str(tmp_path / "empty")!r}
        from openai_harmony import HarmonyEncodingName, load_harmony_encoding
        load_harmony_encoding(HarmonyEncodingName.HARMONY_GPT_OSS)
    """, tmp_path)
    assert result.returncode != 0
    assert "vocab" in result.stderr
    assert vocab.use_shipped_vocabulary() == vocab.VOCAB_FILE
    assert os.environ["TIKTOKEN_ENCODINGS_BASE"] == str(vocab.VOCAB_FILE.parent)


def test_altered_vocabulary_is_refused(tmp_path, monkeypatch):
    altered = tmp_path / "o200k_base.tiktoken"
    shutil.copy(vocab.VOCAB_FILE, altered)
    with altered.open("ab") as f:
        f.write(b"x")
    monkeypatch.setattr(vocab, "VOCAB_FILE", altered)
    vocab.use_shipped_vocabulary.cache_clear()
    try:
        with pytest.raises(vocab.VocabularyError, match="sha256"):
            vocab.use_shipped_vocabulary()
    finally:
        vocab.use_shipped_vocabulary.cache_clear()
