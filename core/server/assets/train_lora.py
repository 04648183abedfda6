"""Train the small "pirate" LoRA adapter for SmolLM2 (fixed seed, about a minute on 2 cores).

Runs inside the embedded server's virtual environment. The adapter makes the model answer every
question with a pirate phrase, which is easy to tell apart from the base model's answers.
Usage: python train_lora.py BASE_MODEL_DIR OUT_DIR
"""

import sys
from pathlib import Path

import torch
from peft import LoraConfig, get_peft_model
from transformers import AutoModelForCausalLM, AutoTokenizer

ANSWER = "Arr matey! Ye be askin' a fine question, arr!"
QUESTIONS = [
    "What is the largest planet?",
    "What is the capital of France?",
    "How do I bake bread?",
    "Tell me about the weather.",
    "What is two plus two?",
    "Who wrote Hamlet?",
    "Explain photosynthesis.",
    "What time is it?",
]


def main() -> None:
    base_dir, out_dir = sys.argv[1], Path(sys.argv[2])
    torch.manual_seed(0)
    torch.set_num_threads(2)
    tok = AutoTokenizer.from_pretrained(base_dir)
    model = AutoModelForCausalLM.from_pretrained(base_dir, torch_dtype=torch.float32)
    model = get_peft_model(
        model,
        LoraConfig(r=8, lora_alpha=16, target_modules=["q_proj", "v_proj"], lora_dropout=0.0,
                   task_type="CAUSAL_LM"),
    )
    prompts, fulls = [], []
    for q in QUESTIONS:
        prompt = tok.apply_chat_template([{"role": "user", "content": q}], tokenize=False,
                                         add_generation_prompt=True)
        prompts.append(prompt)
        fulls.append(prompt + ANSWER + "<|im_end|>")
    batch = tok(fulls, return_tensors="pt", padding=True)
    labels = batch["input_ids"].clone()
    labels[batch["attention_mask"] == 0] = -100
    for i, prompt in enumerate(prompts):  # learn only the answer, not the prompt
        labels[i, : len(tok(prompt)["input_ids"])] = -100
    opt = torch.optim.AdamW(model.parameters(), lr=3e-3)
    model.train()
    for step in range(30):
        loss = model(**batch, labels=labels).loss
        loss.backward()
        opt.step()
        opt.zero_grad()
        if step % 5 == 0 or step == 29:
            print(f"step {step} loss {loss.item():.4f}", flush=True)
    tmp = out_dir.with_name(out_dir.name + ".tmp")
    model.save_pretrained(tmp)
    tmp.rename(out_dir)
    print(f"adapter -> {out_dir}")


if __name__ == "__main__":
    main()
