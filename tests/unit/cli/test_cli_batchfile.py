"""The pure JSON Lines logic of `vllm-accel batch`: parsing, resuming, ordering."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from vllm_accel import ChatCompletion, Completion, ContextLengthError
from vllm_accel.cli import _batchfile as bf
from vllm_accel.cli._batch import default_output


@pytest.mark.parametrize(
    ("text", "prompt", "messages", "ident", "problem"),
    [
        ('"Hello"', "Hello", None, None, None),
        ('{"prompt": "Hi", "id": 7}', "Hi", None, 7, None),
        ('{"messages": [{"role": "user", "content": "Hi"}], "id": "a"}', None,
         [{"role": "user", "content": "Hi"}], "a", None),
        ("not json", None, None, None, "not valid JSON"),
        ("[1, 2]", None, None, None, "expected a JSON string or object"),
        ('{"prompt": 3}', None, None, None, 'expected "prompt"'),
        ('{"messages": []}', None, None, None, 'expected "prompt"'),
        ('{"prompt": "a", "messages": [{"role": "user", "content": "b"}]}', None, None, None,
         'expected "prompt"'),
    ],
)
def test_parse_line(text: str, prompt: str | None, messages: list[object] | None,
                    ident: object, problem: str | None) -> None:
    line = bf.parse_line(3, text)
    assert line is not None
    assert (line.number, line.prompt, line.messages, line.id) == (3, prompt, messages, ident)
    if problem is None:
        assert line.problem is None
    else:
        assert line.problem is not None
        assert problem in line.problem


def test_blank_lines_are_skipped_and_numbers_follow_the_file(tmp_path: Path) -> None:
    src = tmp_path / "in.jsonl"
    src.write_text('"a"\n\n   \n"b"\n')
    assert [(ln.number, ln.prompt) for ln in bf.read_input(src)] == [(1, "a"), (4, "b")]


def test_digest_ignores_surrounding_whitespace_but_not_content() -> None:
    a, b, c = (bf.parse_line(1, t) for t in ('"x"', '  "x"\n', '"y"'))
    assert a is not None
    assert b is not None
    assert c is not None
    assert a.digest == b.digest != c.digest


def _lines(*texts: str) -> list[bf.Line]:
    return [ln for n, t in enumerate(texts, 1) if (ln := bf.parse_line(n, t)) is not None]


def _completion(text: str) -> Completion:
    return Completion.model_validate({"model": "m", "choices": [
        {"index": 0, "text": text, "finish_reason": "stop"}],
        "usage": {"prompt_tokens": 2, "completion_tokens": 3, "total_tokens": 5}})


def test_ok_and_error_records() -> None:
    line = _lines('{"prompt": "p", "id": "q1"}')[0]
    ok = bf.ok_record(line, _completion("done"), 0.25)
    assert ok == {"line": 1, "id": "q1", "ok": True, "text": "done", "model": "m",
                  "finish_reason": "stop", "usage": {"prompt_tokens": 2, "completion_tokens": 3},
                  "latency_ms": 250.0, "input_hash": line.digest}
    chat = ChatCompletion.model_validate({"model": "m", "choices": [
        {"message": {"role": "assistant", "content": "hey"}, "finish_reason": "length"}]})
    assert bf.ok_record(line, chat, 0.0)["text"] == "hey"
    failed = bf.error_record(line, ContextLengthError("too long", status_code=400))
    assert failed == {"line": 1, "id": "q1", "ok": False, "input_hash": line.digest, "error": {
        "type": "ContextLengthError", "message": "too long", "status_code": 400}}
    local = bf.error_record(line, "not valid JSON")
    assert local["error"] == {"type": "InvalidInput", "message": "not valid JSON"}


def test_only_successful_results_of_unchanged_lines_count_as_finished() -> None:
    lines = _lines('"a"', '"b"', '"c"', '"d"')
    results = {
        1: bf.ok_record(lines[0], _completion("A"), 0.1),
        2: bf.error_record(lines[1], "boom"),
        3: {**bf.ok_record(lines[2], _completion("C"), 0.1), "input_hash": "edited-since"},
    }
    assert bf.finished(lines, results) == {1}


def test_read_results_keeps_the_last_record_per_line_and_skips_a_cut_last_line(
        tmp_path: Path) -> None:
    out = tmp_path / "out.jsonl"
    first = {"line": 1, "ok": False, "input_hash": "h"}
    last = {"line": 1, "ok": True, "input_hash": "h"}
    out.write_text(json.dumps(first) + "\n" + json.dumps(last) + "\n"
                   + '{"line": 2, "ok": tr')  # cut short by a crash
    assert bf.read_results(out) == {1: last}
    assert bf.read_results(tmp_path / "missing.jsonl") == {}


@pytest.mark.parametrize("text", ["garbage\n", '{"no": "line"}\n', "a,b,c\n1,2,3\n",
                                  json.dumps({"line": 1, "ok": True}) + "\nnotes\n"])
def test_a_file_that_is_not_a_results_file_is_refused_and_left_alone(
        tmp_path: Path, text: str) -> None:
    out = tmp_path / "out.jsonl"
    out.write_text(text)
    with pytest.raises(bf.ResultsFileError, match="not a results file"):
        bf.read_results(out)
    assert out.read_text() == text


def test_results_of_other_settings_are_refused(tmp_path: Path) -> None:
    lines = _lines('"a"')
    out = tmp_path / "out.jsonl"
    old = bf.settings_hash({"model": "smollm2", "temperature": 0.0})
    new = bf.settings_hash({"model": "smollm2", "temperature": 1.0})
    assert old != new
    bf.rewrite(out, lines, {1: bf.ok_record(lines[0], _completion("A"), 0.1, old)})
    assert bf.finished(lines, bf.read_results(out, old)) == {1}
    with pytest.raises(bf.ResultsFileError, match="other settings"):
        bf.read_results(out, new)


def test_rewrite_never_follows_a_symlink_at_the_temporary_name(tmp_path: Path) -> None:
    victim = tmp_path / "victim.txt"
    victim.write_text("keep me")
    out = tmp_path / "out.jsonl"
    (tmp_path / "out.jsonl.tmp").symlink_to(victim)  # the old fixed temporary name
    lines = _lines('"a"')
    bf.rewrite(out, lines, {1: bf.error_record(lines[0], "x")})
    assert victim.read_text() == "keep me"
    assert json.loads(out.read_text())["line"] == 1
    assert [p.name for p in tmp_path.iterdir() if p.name.endswith(".tmp")] == ["out.jsonl.tmp"]


def test_rewrite_puts_results_in_input_order_and_drops_stale_ones(tmp_path: Path) -> None:
    lines = _lines('"a"', '"b"', '"c"')
    out = tmp_path / "out.jsonl"
    results = {
        3: bf.ok_record(lines[2], _completion("C"), 0.1),
        1: bf.error_record(lines[0], "x"),
        2: {**bf.ok_record(lines[1], _completion("B"), 0.1), "input_hash": "old"},
        9: {"line": 9, "ok": True, "input_hash": "gone"},
    }
    bf.rewrite(out, lines, results)
    written = [json.loads(t) for t in out.read_text().splitlines()]
    assert [(r["line"], r["ok"]) for r in written] == [(1, False), (3, True)]
    assert not (tmp_path / "out.jsonl.tmp").exists()


def test_an_interrupted_run_resumes_where_it_stopped(tmp_path: Path) -> None:
    """Results appended by a run that was killed are reused; the rest is pending."""
    lines = _lines('"a"', '"b"', '"c"')
    out = tmp_path / "out.jsonl"
    with out.open("a") as fh:
        bf.write_records(fh, [bf.ok_record(lines[1], _completion("B"), 0.1)])
        fh.write('{"line": 3, "ok": tru')  # the kill
    results = bf.read_results(out)
    assert bf.finished(lines, results) == {2}
    bf.rewrite(out, lines, results)
    assert [json.loads(t)["line"] for t in out.read_text().splitlines()] == [2]


def test_default_output_sits_next_to_the_input() -> None:
    assert default_output(Path("/d/prompts.jsonl")) == Path("/d/prompts.results.jsonl")
