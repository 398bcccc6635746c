import random

import pytest
import torch

from cluster.harmony.render import render_chat
from cluster.tinymodel import compact, corpus, ensure_tiny_model, train

NEVER = -50.0  # natural log: a probability below 2e-22 per step


@pytest.fixture(scope="module")
def full_model(tmp_path_factory):
    from transformers import GptOssForCausalLM

    path = ensure_tiny_model(tmp_path_factory.mktemp("models"))
    return GptOssForCausalLM.from_pretrained(path, dtype=torch.float32).eval()


def test_tokens_the_corpus_never_uses_are_never_sampled(full_model):
    """At temperature 1, on corpus prompts and on prompts of random token ids (mostly unknown to the model)."""
    _, rows, _ = compact.load_compact(compact.SHIPPED)
    unused = torch.ones(full_model.config.vocab_size, dtype=torch.bool)
    unused[rows] = False
    rng = random.Random(0)
    prompts = [render_chat(e.request) for e in corpus.held_out(6)]
    prompts += [[rng.randrange(full_model.config.vocab_size) for _ in range(200)] for _ in range(2)]
    for prompt in prompts:
        with torch.no_grad():
            logits = full_model(torch.tensor([prompt])).logits[0]
        log_p_unused = torch.logsumexp(logits[:, unused], -1) - torch.logsumexp(logits, -1)
        assert log_p_unused.max().item() < NEVER


def test_the_full_checkpoint_answers_like_the_compact_one(full_model):
    """Expansion moves rows, nothing else: the trained rows' logits agree (bf16 rounding aside)."""
    small, rows = compact.load_compact_model(compact.SHIPPED)
    prompt = render_chat(corpus.held_out(1)[0].request)
    index = {token: i for i, token in enumerate(rows)}
    with torch.no_grad():
        full = full_model(torch.tensor([prompt])).logits[0][:, rows]
        compact_logits = small(torch.tensor([[index.get(t, len(rows)) for t in prompt]])).logits[0][:, :-1]
    assert torch.allclose(full, compact_logits, atol=1e-3)


def test_training_is_deterministic(tmp_path):
    first, second = tmp_path / "a.safetensors", tmp_path / "b.safetensors"
    train.train(steps=2, out=first, examples=60, log=lambda _: None)
    train.train(steps=2, out=second, examples=60, log=lambda _: None)
    (state, rows, architecture), again = compact.load_compact(first), compact.load_compact(second)
    assert rows == again[1] and architecture == again[2]
    assert state.keys() == again[0].keys() and all(torch.equal(state[name], again[0][name]) for name in state)
    assert architecture == compact.ARCHITECTURE and len(rows) + 1 == state["lm_head.weight"].shape[0]
    assert (state["model.embed_tokens.weight"][:, compact.BIAS_CHANNEL] == compact.BIAS_VALUE).all()
