"""smstudio's policies, decided request by request by the local Studio's evaluator: each
row of tests/decisions.py as the principal that makes it. Together the rows cover every
statement, on the allowing side and the refusing side."""

from __future__ import annotations

import pytest

from smstudio.local.gateway import evaluator
from tests.decisions import POLICIES, ROWS, Row


def decide(row: Row) -> evaluator.Outcome:
    request = evaluator.Request(row.action, row.resource, row.context)
    return evaluator.evaluate(POLICIES[row.policy], request)


@pytest.mark.parametrize("row", ROWS, ids=[r.name for r in ROWS])
def test_decision(row: Row) -> None:
    outcome = decide(row)
    assert outcome.allowed == row.allowed, outcome


def test_the_table_covers_every_statement_both_ways() -> None:
    assert len(ROWS) >= 40
    deciding = {(r.policy, decide(r).statement) for r in ROWS}
    for name, policies in POLICIES.items():
        for statement in (s for policy in policies for s in policy["Statement"]):
            sid = statement["Sid"]
            # an Allow decides an allowed row, a Deny a refused one
            assert (name, sid) in deciding, f"no row decided by {name}:{sid}"
            actions = set(statement["Action"])
            refused = [
                r for r in ROWS if r.policy == name and not r.allowed and r.action in actions
            ]
            if statement.get("Condition") or "${" in str(statement["Resource"]) or name == "user":
                assert refused or statement["Resource"] == ["*"], f"no refused row for {name}:{sid}"
