"""Keys and study IDs from outside: no key escapes its study or reaches another study's results,
and no DynamoDB expression is ever built from input."""
from __future__ import annotations

import ast
from pathlib import Path
from urllib.parse import quote_plus

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from lungct.errors import InvalidKeyError
from lungct.keys import STUDY_ID_RE, parse_incoming_key
from tests.helpers import png_bytes, synthetic_slice

ROOT = Path(__file__).resolve().parents[2]


def test_odd_keys_end_to_end_stay_in_their_study_or_get_no_result(embedded_aws, worker, s3, bucket, store, study_id, json_logs):
    victim, attacker = f"{study_id}-victim", f"{study_id}-attacker"
    png = png_bytes(synthetic_slice(60, 64))
    # GIVEN a victim study with a result
    s3.put_object(Bucket=bucket, Key=f"incoming/{victim}/a.png", Body=png)
    worker.run(until_empty=True, idle_s=0.3, max_seconds=60)
    (before,) = store.query_study(victim)
    refused = [
        f"incoming/../{victim}/a.png",  # study '..'
        f"incoming/{attacker}/../{victim}/a.png",  # '..' segment in the image path
        f"incoming/{attacker}/./a.png",
        f"incoming/{attacker}%2F..%2F{victim}/a.png",  # URL-encoded slashes in the study ID
        f"incoming/stüdy-{study_id}/a.png",  # unicode study ID
        f"incoming/{'s' * 129}/a.png",  # study ID too long
        f"incoming/{attacker}/{'x' * 600}.png",  # image path too long
        f"incoming/{attacker}/ctl\x07char.png",  # control character
        f"incoming//{victim}/a.png",  # empty study ID
        f"incoming/{attacker}",  # no image path
    ]
    kept = {
        f"incoming/{attacker}/..%2F{victim}%2Fa.png": "..%2F" + victim + "%2Fa.png",  # literal, stays put
        f"incoming/{attacker}/ünï cödé+plus.png": "ünï cödé+plus.png",
        f"incoming/{attacker}/a..b/c.png": "a..b/c.png",
    }
    for key in [*refused, *kept]:
        s3.put_object(Bucket=bucket, Key=key, Body=png)
    stats = worker.run(until_empty=True, idle_s=0.3, max_seconds=60)
    # THEN: no retries, the victim is untouched, the kept keys landed in the attacker's study only
    assert stats.failed == 0
    (after,) = store.query_study(victim)
    assert after == before
    assert sorted(r.image for r in store.query_study(attacker)) == sorted(kept.values())
    skipped = json_logs.find("S3 record skipped")
    assert len(skipped) == len(refused) and all(e["level"] == "WARNING" and e["detail"] for e in skipped)


keys = st.lists(st.sampled_from(list("ab./-_%2F+ ü\x00") + ["..", "%2F", "%2E", "/", "%252F"]), max_size=20).map("".join)


@settings(max_examples=300, deadline=None, derandomize=True)
@given(keys, keys)
def test_any_key_parses_into_its_own_study_or_is_refused(study, rest):
    key = f"incoming/{study}/{rest}"
    try:
        parsed = parse_incoming_key(quote_plus(key, safe=""), url_encoded=True)
    except InvalidKeyError:
        return
    assert STUDY_ID_RE.fullmatch(parsed.study_id) and parsed.study_id not in (".", "..")
    assert parsed.key == key and key == f"incoming/{parsed.study_id}/{parsed.image}"
    assert ".." not in parsed.image.split("/") and "" not in parsed.image.split("/")


def test_result_store_refuses_invalid_study_ids(embedded_aws):
    from lungct.results import ResultStore

    ctx = embedded_aws.context()
    store = ResultStore(ctx.client("dynamodb"), ctx.names.results_table)
    for bad in ("../x", "a b", "x" * 129, "", "é", "a/b"):
        with pytest.raises(InvalidKeyError):
            store.query_study(bad)


EXPRESSION_ARGS = {"KeyConditionExpression", "ConditionExpression", "FilterExpression", "UpdateExpression",
                   "ProjectionExpression"}


def _dynamic(node: ast.AST) -> str | None:
    """Why an expression value is built at run time, or None when it is a literal."""
    if isinstance(node, ast.JoinedStr) and any(isinstance(v, ast.FormattedValue) for v in node.values):
        return "f-string"
    if isinstance(node, ast.BinOp) and isinstance(node.op, (ast.Add, ast.Mod)):
        return "concatenation or % formatting"
    if isinstance(node, ast.Call) and isinstance(node.func, ast.Attribute) and node.func.attr in ("format", "join", "replace"):
        return f".{node.func.attr}()"
    return None


def _expression_sites(tree: ast.AST):
    for node in ast.walk(tree):
        if isinstance(node, ast.Call):
            for kw in node.keywords:
                if kw.arg in EXPRESSION_ARGS:
                    yield kw.arg, kw.value
        elif isinstance(node, ast.Dict):
            for k, v in zip(node.keys, node.values):
                if isinstance(k, ast.Constant) and k.value in EXPRESSION_ARGS:
                    yield k.value, v


def test_dynamodb_expressions_are_never_built_from_strings():
    """Values go through ExpressionAttributeValues; an expression is a literal (or a literal's name)."""
    files = [p for d in ("lungct", "lambda_infer") for p in (ROOT / d).rglob("*.py")]
    assert files
    problems, sites = [], 0
    for path in files:
        tree = ast.parse(path.read_text(), filename=str(path))
        # names bound to built strings anywhere in the module count as built
        built = {t.id for n in ast.walk(tree) if isinstance(n, ast.Assign) and _dynamic(n.value)
                 for t in n.targets if isinstance(t, ast.Name)}
        for arg, value in _expression_sites(tree):
            sites += 1
            why = _dynamic(value) or ("a name bound to a built string" if isinstance(value, ast.Name) and value.id in built else None)
            if why:
                problems.append(f"{path.relative_to(ROOT)}:{value.lineno} {arg} is {why}")
    assert sites >= 2, "found no DynamoDB expressions at all; the check is looking in the wrong place"
    assert not problems, "\n".join(problems)


def test_the_expression_check_catches_concatenation():
    bad = ast.parse('client.query(KeyConditionExpression="study_id = " + sid)\n'
                    'client.scan(FilterExpression=f"label = {label}")\n'
                    'kw = {"ConditionExpression": "a = {}".format(x)}')
    assert [why for _, v in _expression_sites(bad) if (why := _dynamic(v))] == [
        "concatenation or % formatting", "f-string", ".format()"]
