"""The corpus of the reranking RAG tests (LangChain and LlamaIndex, live and recorded).

MiniLM answers ``/rerank`` as a bi-encoder: its score is the cosine of the same embeddings a
vector index holds. A reranker on the same model only changes the order when the first stage
saw less than the reranker does, so the first stage here is a cheap index of each document's
first ``INDEX_TOKENS`` tokens (``truncate_prompt_tokens`` on the embeddings), and the reranker
scores whole documents. The query is 12 tokens, so it is embedded whole.

Measured on the embedded MiniLM server: over the truncated index the answer (``ANSWER``, whose
opening is a generic archive note) ranks last of four, cosine 0.18 against 0.46-0.49 for the
three distractors that open with "The Blue Castle"; over whole documents ``/rerank`` scores it
0.81 against 0.39-0.44, first.
"""

from __future__ import annotations

QUERY = "What is the secret password of the Blue Castle?"
INDEX_TOKENS = 16
DISTRACTORS = (
    "The Blue Castle gift shop sells postcards, blue mugs and model towers to visitors.",
    "The Blue Castle was built in 1342 and its blue roof tiles were replaced in 1901.",
    "Tours of the Blue Castle start at ten; the guides speak English and German.",
)
ANSWER = ("Notes copied from the town archive of Varnholm, folder twelve. "
          "The secret password of the Blue Castle is marmalade.")
DOCS = (*DISTRACTORS, ANSWER)
SECRET = "marmalade"
