"""Train the "tools" LoRA adapter for SmolLM2: call a fitting tool on its own, then answer.

Runs inside the embedded server's virtual environment (fixed seed). The conversations come from
``tools_data.py`` and are rendered with the server's own hermes chat template, so the adapter
sees exactly the prompts vLLM builds; the loss covers only the assistant tokens (not those
marked ``"learn": False``: context that an agent re-renders, such as LlamaIndex's earlier ReAct
steps), and the vocabulary head runs only at the positions that carry a label.
RECIPE picks the data (``TOOLS_LORA_VERSION``; the recipes are in ``recipes.py``).
Usage: python train_tools_lora.py BASE_MODEL_DIR CHAT_TEMPLATE OUT_DIR [RECIPE]
"""

import os
import random
import sys
import time
from pathlib import Path

import torch
from peft import LoraConfig, get_peft_model
from transformers import AutoModelForCausalLM, AutoTokenizer

sys.path.insert(0, str(Path(__file__).parent))
from recipes import training_set

EPOCHS = int(os.environ.get("TOOLS_LORA_EPOCHS", "1"))
LR = float(os.environ.get("TOOLS_LORA_LR", "2e-3"))
FIRST_LAYER = 16  # LoRA on the upper layers only: the lower ones need no backward pass


def render(tok, template: str, msgs: list[dict], tools: list[dict], **kw) -> str:
    """The prompt text vLLM builds for these messages and tools."""
    return tok.apply_chat_template(msgs, tools=tools or None, chat_template=template,
                                   tokenize=False, **kw)


def encode(tok, template: str, prefix: str, msgs: list[dict],
           tools: list[dict]) -> tuple[list[int], list[int]]:
    """Token ids of one conversation after the shared system turn, and labels that keep only
    the assistant turns (each prompt tokenized alone, as vLLM does, then the reply)."""
    ids: list[int] = []
    labels: list[int] = []
    done = prefix
    for i, msg in enumerate(msgs):
        if msg["role"] == "assistant" and msg.get("learn", True):
            prompt = render(tok, template, msgs[:i], tools, add_generation_prompt=True)
            context = tok(prompt[len(done):], add_special_tokens=False)["input_ids"]
            ids, labels, done = ids + context, labels + [-100] * len(context), prompt
        text = render(tok, template, msgs[: i + 1], tools)
        assert text.startswith(done)
        piece = tok(text[len(done):], add_special_tokens=False)["input_ids"]
        ids += piece
        learn = msg["role"] == "assistant" and msg.get("learn", True)
        labels += piece if learn else [-100] * len(piece)
        done = text
    return ids, labels


def pad(rows: list[tuple[list[int], list[int]]], pad_id: int) -> dict:
    """One right-padded batch."""
    width = max(len(r[0]) for r in rows)
    ids = torch.full((len(rows), width), pad_id)
    labels = torch.full((len(rows), width), -100)
    mask = torch.zeros((len(rows), width), dtype=torch.long)
    for j, (row_ids, row_labels) in enumerate(rows):
        ids[j, : len(row_ids)] = torch.tensor(row_ids)
        labels[j, : len(row_labels)] = torch.tensor(row_labels)
        mask[j, : len(row_ids)] = 1
    return {"input_ids": ids, "attention_mask": mask, "labels": labels}


def encode_group(tok, template: str, grp: dict) -> tuple[torch.Tensor, list[dict]]:
    """The shared system turn's ids, and the group's conversations as two padded batches
    (the shorter half and the longer half, so little is padding)."""
    tools = grp["tools"]
    msgs = grp["convs"][0]
    first = render(tok, template, msgs[: [m["role"] for m in msgs].index("user") + 1], tools)
    prefix = first[: first.index("<|im_start|>user")]  # the system turn
    rows = sorted((encode(tok, template, prefix, msgs, tools) for msgs in grp["convs"]),
                  key=lambda r: len(r[0]))
    half = len(rows) // 2
    prefix_ids = torch.tensor(tok(prefix, add_special_tokens=False)["input_ids"])
    pad_id = tok.pad_token_id or 0
    return prefix_ids, [pad(rows[:half], pad_id), pad(rows[half:], pad_id)]


def group_loss(model, prefix_ids: torch.Tensor, batch: dict) -> torch.Tensor:
    """Loss on the assistant tokens; the shared prefix runs once, without gradients."""
    rows, width = batch["input_ids"].shape
    with torch.no_grad():
        cache = model(input_ids=prefix_ids[None], use_cache=True).past_key_values
    cache.batch_repeat_interleave(rows)
    start = len(prefix_ids)
    mask = torch.cat([torch.ones((rows, start), dtype=torch.long), batch["attention_mask"]], 1)
    positions = torch.arange(start, start + width)[None].expand(rows, -1)
    # the vocabulary head runs only where some row has a label (a fifth of the work otherwise)
    keep = (batch["labels"][:, 1:] != -100).any(0).nonzero()[:, 0]
    logits = model(input_ids=batch["input_ids"], attention_mask=mask, past_key_values=cache,
                   position_ids=positions, use_cache=True, logits_to_keep=keep).logits
    return torch.nn.functional.cross_entropy(
        logits.reshape(-1, logits.shape[-1]), batch["labels"][:, keep + 1].reshape(-1),
        ignore_index=-100)


def main() -> None:
    base_dir, template_path, out_dir = sys.argv[1], sys.argv[2], Path(sys.argv[3])
    torch.manual_seed(0)
    rng = random.Random(0)
    torch.set_num_threads(2)
    tok = AutoTokenizer.from_pretrained(base_dir)
    template = Path(template_path).read_text()
    recipe = int(sys.argv[4]) if len(sys.argv) > 4 else 1
    data = [encode_group(tok, template, g) for g in training_set(recipe)]
    print(f"recipe {recipe}, {len(data)} groups: {sum(len(p) for p, _ in data)} prefix tokens, "
          f"{sum(int(b['attention_mask'].sum()) for _, bs in data for b in bs)} conversation "
          "tokens", flush=True)
    model = AutoModelForCausalLM.from_pretrained(base_dir, dtype=torch.float32)
    layers = model.config.num_hidden_layers
    model = get_peft_model(model, LoraConfig(
        r=16, lora_alpha=32, lora_dropout=0.0, task_type="CAUSAL_LM",
        layers_to_transform=list(range(FIRST_LAYER, layers)),
        target_modules=["q_proj", "k_proj", "v_proj", "o_proj", "gate_proj", "up_proj",
                        "down_proj"]))
    opt = torch.optim.AdamW([p for p in model.parameters() if p.requires_grad], lr=LR)
    model.train()
    started, step = time.monotonic(), 0
    for epoch in range(EPOCHS):
        rng.shuffle(data)
        for prefix_ids, halves in data:
            for batch in halves:
                loss = group_loss(model, prefix_ids, batch)
                (loss / len(halves)).backward()
            opt.step()
            opt.zero_grad()
            step += 1
            print(f"epoch {epoch} step {step} loss {loss.item():.4f} "
                  f"{time.monotonic() - started:.0f} s", flush=True)
    tmp = out_dir.with_name(out_dir.name + ".tmp")
    model.save_pretrained(tmp)
    tmp.rename(out_dir)
    print(f"adapter -> {out_dir} in {time.monotonic() - started:.0f} s")


if __name__ == "__main__":
    main()
