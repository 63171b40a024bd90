"""Model loading: every kind of `--model`, and one clear line for every bad one."""

from __future__ import annotations

import json

import httpx2
import pytest
from huggingface_hub import errors as hub

from engine.bundled import BUNDLED_SHA256, assemble, bundled_parts
from engine.errors import EngineError
from engine.gguf import check_gguf
from engine.loading import _hub_error, check_format, describe_source, load_model
from fim.formats import get_format


def test_local_directory_loads_with_detected_format_and_stop_ids(tiny_model):
    tok = tiny_model.tokenizer
    assert tiny_model.fim_format.name == "qwen2.5-coder"
    for sentinel in ("<|fim_prefix|>", "<|fim_suffix|>", "<|fim_middle|>", "<|file_sep|>", "<|endoftext|>"):
        assert tok.convert_tokens_to_ids(sentinel) in tiny_model.stop_ids
    assert tok.convert_tokens_to_ids("<|im_end|>") in tiny_model.stop_ids


def test_forced_format_must_fit_the_tokenizer(tiny_model_dir):
    with pytest.raises(EngineError, match=r"no single token for the FIM sentinel '<\|file_separator\|>'"):
        load_model(str(tiny_model_dir), fim_format="codegemma")
    with pytest.raises(EngineError, match="unknown FIM format"):
        load_model(str(tiny_model_dir), fim_format="nope")


def test_tokenizer_without_sentinels_is_refused(tiny_model):
    with pytest.raises(EngineError, match="cannot infill"):
        check_format(tiny_model.tokenizer, get_format("starcoder2"), "tiny")


@pytest.mark.parametrize(
    ("spec", "message"),
    [
        ("/no/such/model.gguf", "model file not found"),
        ("./no-such-dir", "neither a model directory nor a .gguf file"),
        ("justaname", "not a Hugging Face id"),
    ],
)
def test_bad_model_specs(spec, message):
    with pytest.raises(EngineError, match=message):
        load_model(spec)


def test_directory_without_config_is_refused(tmp_path):
    with pytest.raises(EngineError, match="no config.json"):
        load_model(str(tmp_path))


def test_unreachable_hub_says_what_to_do(monkeypatch):
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    with pytest.raises(EngineError, match="cannot download google/codegemma-2b.*bundled model"):
        load_model("google/codegemma-2b")


def _http_error(cls, status):
    response = httpx2.Response(status, request=httpx2.Request("GET", "https://huggingface.co/x/config.json"))
    return cls("hub said no", response=response)


def test_gated_and_unknown_hub_ids_get_their_own_advice():
    gated = OSError("wrapped")
    gated.__cause__ = _http_error(hub.GatedRepoError, 401)
    assert "gated" in str(_hub_error("google/codegemma-2b", gated)) and "HF_TOKEN" in str(_hub_error("g/c", gated))
    missing = OSError("wrapped")
    missing.__cause__ = _http_error(hub.RepositoryNotFoundError, 404)
    assert "no model 'who/what'" in str(_hub_error("who/what", missing))


def test_not_a_gguf_file(tmp_path):
    bad = tmp_path / "model.gguf"
    bad.write_bytes(b"PK\x03\x04 definitely a zip")
    with pytest.raises(EngineError, match="is not a GGUF file"):
        load_model(str(bad))


def test_truncated_gguf_is_reported(tmp_path):
    first_slice = bundled_parts()[0]  # the first 89 MB of the bundled GGUF: a real header, missing tensors
    truncated = tmp_path / "truncated.gguf"
    truncated.write_bytes(first_slice.read_bytes())
    with pytest.raises(EngineError, match="corrupt or truncated"):
        check_gguf(truncated)


def test_bundled_hash_mismatch_removes_the_output(tmp_path):
    out = tmp_path / "model.gguf"
    with pytest.raises(EngineError, match="corrupt or truncated.*reinstall"):
        assemble(bundled_parts()[:1], out, BUNDLED_SHA256)
    assert not out.exists()


def test_missing_adapter_is_explained(tiny_model_dir, tmp_path):
    with pytest.raises(EngineError, match="no adapter_config.json"):
        load_model(str(tiny_model_dir), adapter=str(tmp_path))


def test_describe_source_kinds(tiny_model_dir):
    assert describe_source(None) == ("bundled", "bundled")
    assert describe_source("google/codegemma-2b") == ("hub", "google/codegemma-2b")
    assert describe_source(str(tiny_model_dir))[0] == "dir"
    assert json.loads((tiny_model_dir / "config.json").read_text())["model_type"] == "qwen2"


def write_gguf(path, config, qtype, seed=0):
    """Random weights of `config`'s shape as a GGUF file, each matrix quantised to `qtype`; returns them (float32)."""
    import gguf
    import numpy as np
    import torch
    from transformers import AutoModelForCausalLM
    from transformers.modeling_gguf_pytorch_utils import TensorProcessor, get_gguf_hf_weights_map

    with torch.device("meta"):
        model = AutoModelForCausalLM.from_config(config)
    names = {hf: name for name, hf in get_gguf_hf_weights_map(model, TensorProcessor()).items()}
    writer = gguf.GGUFWriter(str(path), config.model_type)
    rng = np.random.default_rng(seed)
    weights = {}
    for hf, param in model.named_parameters():
        value = (rng.standard_normal(param.shape, dtype=np.float32) * 0.05).astype(np.float32)
        if value.ndim == 2:
            quantised = gguf.quants.quantize(value, qtype)
            writer.add_tensor(names[hf], quantised, raw_dtype=qtype)
            value = gguf.quants.dequantize(quantised, qtype)
        else:
            writer.add_tensor(names[hf], value)
        weights[hf] = value
    writer.write_header_to_file()
    writer.write_kv_data_to_file()
    writer.write_tensors_to_file()
    writer.close()
    return weights


def tiny_config(**overrides):
    from transformers import Qwen2Config

    fields = dict(vocab_size=256, hidden_size=64, intermediate_size=128, num_hidden_layers=2, num_attention_heads=4,
                  num_key_value_heads=2, tie_word_embeddings=False)  # fmt: skip
    return Qwen2Config(**{**fields, **overrides})


@pytest.mark.parametrize("qtype", ["Q8_0", "Q4_0", "Q5_0"])  # the gguf package writes no K-quants
def test_gguf_tensors_load_one_by_one_into_the_dense_type(tmp_path, qtype):
    import gguf
    import torch

    from engine.gguf import load_gguf_weights

    config = tiny_config()
    weights = write_gguf(tmp_path / "m.gguf", config, getattr(gguf.GGMLQuantizationType, qtype))
    model = load_gguf_weights(tmp_path / "m.gguf", config, torch.bfloat16)
    for name, param in model.named_parameters():
        assert param.dtype == torch.bfloat16
        assert torch.allclose(param.float(), torch.from_numpy(weights[name]), atol=0.01), name
    with torch.inference_mode():
        logits = model(torch.tensor([[1, 2, 3]])).logits
    assert torch.isfinite(logits).all()


def test_gguf_load_never_holds_a_float32_model(tmp_path):
    """Loading a 60M-parameter Q4_0 file in bf16 peaks below what its float32 copy alone would take (244 MB)."""
    import subprocess
    import sys

    import gguf

    config = tiny_config(vocab_size=1024, hidden_size=512, intermediate_size=2048, num_hidden_layers=16)
    weights = write_gguf(tmp_path / "m.gguf", config, gguf.GGMLQuantizationType.Q4_0)
    float32_mb = sum(w.size for w in weights.values()) * 4 / 2**20
    del weights
    script = (
        "import re, sys, torch; from pathlib import Path; from transformers import Qwen2Config\n"
        "from engine.gguf import load_gguf_weights\n"
        "import gguf, transformers.modeling_gguf_pytorch_utils; from transformers import AutoModelForCausalLM\n"
        f"config = Qwen2Config(**{config.to_diff_dict()!r})\n"
        "with torch.device('meta'): AutoModelForCausalLM.from_config(config)  # imports the model's code\n"
        "mb = lambda k: int(re.search(k + r':\\s+(\\d+)', open('/proc/self/status').read()).group(1)) / 1024\n"
        "before = mb('VmRSS')\n"
        "load_gguf_weights(Path(sys.argv[1]), config, torch.bfloat16)\n"
        "print(mb('VmHWM') - before)\n"
    )
    out = subprocess.run([sys.executable, "-c", script, str(tmp_path / "m.gguf")], capture_output=True, text=True,
                         check=True, timeout=120)  # fmt: skip
    peak_mb = float(out.stdout.split()[-1])
    # Measured: 174 MB in bf16 (the 122 MB model, the mapped file, one tensor at a time), 306 MB in float32.
    assert peak_mb < 0.85 * float32_mb, (peak_mb, float32_mb)


def test_gguf_tensor_types_it_cannot_read_are_named(tmp_path):
    import gguf
    import numpy as np

    from engine.gguf import load_gguf_weights

    writer = gguf.GGUFWriter(str(tmp_path / "m.gguf"), "qwen2")
    writer.add_tensor("token_embd.weight", np.zeros((256, 64), dtype=np.int32))
    writer.write_header_to_file()
    writer.write_kv_data_to_file()
    writer.write_tensors_to_file()
    writer.close()
    with pytest.raises(EngineError, match="tensor token_embd.weight is I32, which this loader does not read"):
        load_gguf_weights(tmp_path / "m.gguf", tiny_config(), None)


def test_loading_leaves_no_torch_worker_threads_in_the_thread_that_asked(tiny_model_dir):
    # A thread that lives on (the main thread of `codegemma eval`) would keep the OpenMP team of the load's
    # parallel torch ops, and beside the batch scheduler's team that makes decode steps ~1.5x slower on 2 cores.
    import os
    import threading

    import torch

    if torch.get_num_threads() < 2 or not os.path.isdir("/proc/self/task"):
        pytest.skip("needs two torch threads and /proc")
    load_model(str(tiny_model_dir), dtype="int8")  # the tokenizer's own threads, if any, start here
    counts = {}
    done = threading.Event()

    def long_lived():
        counts["before"] = len(os.listdir("/proc/self/task"))
        load_model(str(tiny_model_dir), dtype="int8")  # quantising the output projection runs in parallel
        counts["after"] = len(os.listdir("/proc/self/task"))
        done.wait()

    thread = threading.Thread(target=long_lived)
    thread.start()
    while "after" not in counts and thread.is_alive():
        thread.join(0.05)
    done.set()
    thread.join()
    assert counts["after"] == counts["before"]


def test_a_load_that_fails_raises_in_the_caller(tmp_path):
    with pytest.raises(EngineError, match="config"):
        load_model(str(tmp_path))


def test_prompts_of_new_lengths_do_not_grow_memory(tiny_model_dir):
    """A server's memory stays flat as prompts of ever new lengths come in (issue #12's overload run).

    torch keeps a compiled oneDNN kernel for every shape of every bf16 matmul, 1024 shapes by default:
    before the engine bounded that, 100 requests of different lengths grew a server on the bundled model
    by 1.3 GB (AMD EPYC Zen 5, AVX512-BF16), and this test's 60 prompts grew the tiny model by 690 MB.
    Where bf16 is not native torch does not use oneDNN for it, and this passes either way.
    """
    import subprocess
    import sys

    script = (
        "import re, sys\n"
        "from engine.specs import backend_from_spec\n"
        "from engine.backend import CompletionRequest\n"
        "b = backend_from_spec('local', model=sys.argv[1], dtype='bfloat16', context_tokens=512)\n"
        "mb = lambda: int(re.search(r'RssAnon:\\s+(\\d+)', open('/proc/self/status').read()).group(1)) / 1024\n"
        "b.complete(CompletionRequest(prefix='x = ', max_tokens=2))\n"
        "before = mb()\n"
        "for n in range(60):\n"
        "    b.complete(CompletionRequest(prefix='def f():\\n' + '    y = g(1)\\n' * (1 + n * 2), max_tokens=16))\n"
        "print(mb() - before)\n"
    )
    out = subprocess.run([sys.executable, "-c", script, str(tiny_model_dir)], capture_output=True, text=True,
                         check=True, timeout=300)  # fmt: skip
    grown_mb = float(out.stdout.split()[-1])
    assert grown_mb < 100, grown_mb
