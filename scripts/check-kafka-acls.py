"""Checks deploy/kafka/acls.yaml (scripts/check-deploy runs it), after checking itself on
bad examples. Rules: only votechain-ingest may WRITE `votes` (the ballot box); no
principal has DELETE, ALTER, ALTER_CONFIGS or ALL on anything; the query, projector and
publisher roles have no principal (their pods carry no Kafka secret); every entry is well
formed (a known resource type, a name unless it is the cluster, known operations).
"""
import os, sys
import yaml

ROOT = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..")
OPS = {"READ", "WRITE", "CREATE", "DESCRIBE", "DESCRIBE_CONFIGS", "IDEMPOTENT_WRITE"}
FORBIDDEN = {"DELETE", "ALTER", "ALTER_CONFIGS", "ALL", "CLUSTER_ACTION"}
RESOURCES = {"topic", "group", "transactional-id", "cluster"}
NO_KAFKA = {"votechain-query", "votechain-projector", "votechain-publisher"}


def problems(doc):
    out = []
    for who, acls in (doc.get("principals") or {}).items():
        if who in NO_KAFKA:
            out.append(f"{who}: this role uses no Kafka and must have no principal")
        for a in acls or []:
            kind, ops = a.get("resource"), set(a.get("ops") or [])
            if kind not in RESOURCES:
                out.append(f"{who}: unknown resource type {kind!r}")
            if kind != "cluster" and not a.get("name"):
                out.append(f"{who}: a {kind} ACL without a name")
            if a.get("pattern", "literal") not in ("literal", "prefixed"):
                out.append(f"{who}: pattern {a.get('pattern')!r}")
            for op in ops & FORBIDDEN:
                out.append(f"{who}: {op} on {kind} {a.get('name', '')}")
            for op in ops - OPS - FORBIDDEN:
                out.append(f"{who}: unknown operation {op}")
            if kind == "topic" and a.get("name") == "votes" and "WRITE" in ops and who != "votechain-ingest":
                out.append(f"{who}: WRITE on votes (only ingest may write the ballot box)")
    return out


def self_test():
    bad = [
        {"principals": {"votechain-writer": [{"resource": "topic", "name": "votes", "ops": ["WRITE"]}]}},
        {"principals": {"votechain-ops": [{"resource": "topic", "name": "votes", "ops": ["DELETE"]}]}},
        {"principals": {"votechain-query": [{"resource": "topic", "name": "votes", "ops": ["READ"]}]}},
        {"principals": {"votechain-ingest": [{"resource": "topic", "ops": ["WRITE"]}]}},
    ]
    for i, d in enumerate(bad):
        assert problems(d), f"the checker let bad ACLs {i} pass: {d}"
    good = {"principals": {"votechain-ingest": [{"resource": "topic", "name": "votes", "ops": ["WRITE"]}]}}
    assert problems(good) == [], problems(good)


def main():
    self_test()
    doc = yaml.safe_load(open(os.path.join(ROOT, "deploy/kafka/acls.yaml")))
    errs = problems(doc)
    if "votechain-ingest" not in (doc.get("principals") or {}):
        errs.append("no votechain-ingest principal")
    for e in errs:
        print("FAIL kafka acls:", e)
    if not errs:
        n = sum(len(v) for v in doc["principals"].values())
        print(f"kafka acls: {len(doc['principals'])} principals, {n} ACLs: only ingest writes votes, no delete or alter (self-test passed)")
    return 1 if errs else 0


if __name__ == "__main__":
    sys.exit(main())
