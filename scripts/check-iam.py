"""Least privilege of deploy/aws/iam/*.json, the IAM policy of each role's IRSA role
(scripts/check-deploy runs this; `python3 scripts/check-iam.py` alone works too).

Rules, each a FAIL when broken:
  - no Allow of `*`, `dynamodb:*`, a `Delete*` action, `BatchWriteItem` (it deletes too)
    or PartiQL writes; the one exception is `DeleteItem` on the lease table alone (the
    projectors' lease hygiene deletes finished shard leases and stale registrations;
    leases are coordination state, not votes);
  - every item write (PutItem, UpdateItem) allowed on the ledger or the caps table is
    scoped by a `dynamodb:LeadingKeys` condition (the writer: votes, markers, checkpoints
    only; ingest: its vote-cap reservations only);
  - every policy explicitly denies DeleteItem and DeleteTable on the ledger;
  - every ServiceAccount role of deploy/k8s/overlays/production/irsa.yaml has its policy.
It first checks itself: a policy that breaks each rule must be refused.
"""
import glob, json, os, re, sys

ROOT = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..")
LEDGER = re.compile(r":table/votechain-ledger$")
LEASES = re.compile(r":table/votechain-leases$")
CAPS = re.compile(r":table/votechain-caps$")
WRITES = {"dynamodb:PutItem", "dynamodb:UpdateItem"}
FORBIDDEN = re.compile(r"^(\*|dynamodb:\*|dynamodb:Delete.*|dynamodb:BatchWriteItem|dynamodb:PartiQL(Insert|Update|Delete))$")


def listify(v):
    return v if isinstance(v, list) else [v]


def problems(name, policy):
    out = []
    stmts = listify(policy.get("Statement", []))
    for s in stmts:
        if s.get("Effect") != "Allow":
            continue
        actions = listify(s.get("Action", []))
        resources = listify(s.get("Resource", []))
        leases_only = bool(resources) and all(LEASES.search(r) for r in resources)
        for a in actions:
            if a == "dynamodb:DeleteItem" and leases_only:
                continue
            if FORBIDDEN.match(a):
                out.append(f"{name}: {s.get('Sid', '?')} allows {a}")
        cond = json.dumps(s.get("Condition", {}))
        for table, pattern in (("ledger", LEDGER), ("caps table", CAPS)):
            on_it = any(pattern.search(r) or r == "*" for r in resources)
            if on_it and WRITES & set(actions) and "dynamodb:LeadingKeys" not in cond:
                out.append(f"{name}: {s.get('Sid', '?')} allows an unscoped write to the {table} (no dynamodb:LeadingKeys)")
    denied = set()
    for s in stmts:
        if s.get("Effect") == "Deny" and any(LEDGER.search(r) for r in listify(s.get("Resource", []))):
            denied |= set(listify(s.get("Action", [])))
    for a in ("dynamodb:DeleteItem", "dynamodb:DeleteTable"):
        if a not in denied:
            out.append(f"{name}: no explicit Deny of {a} on the ledger")
    return out


def self_test():
    deny = {"Effect": "Deny", "Action": ["dynamodb:DeleteItem", "dynamodb:DeleteTable"],
            "Resource": ["arn:aws:dynamodb:r:1:table/votechain-ledger"]}
    ledger = "arn:aws:dynamodb:r:1:table/votechain-ledger"
    good = {"Statement": [{"Effect": "Allow", "Action": ["dynamodb:PutItem"], "Resource": [ledger],
                           "Condition": {"ForAllValues:StringLike": {"dynamodb:LeadingKeys": ["X#*"]}}}, deny]}
    assert problems("good", good) == [], problems("good", good)
    leases = "arn:aws:dynamodb:r:1:table/votechain-leases"
    hygiene = {"Statement": [{"Effect": "Allow", "Action": ["dynamodb:DeleteItem"], "Resource": [leases]}, deny]}
    assert problems("hygiene", hygiene) == [], problems("hygiene", hygiene)
    bad = [
        {"Statement": [{"Effect": "Allow", "Action": "dynamodb:*", "Resource": "*"}, deny]},
        {"Statement": [{"Effect": "Allow", "Action": ["dynamodb:DeleteItem"], "Resource": [ledger]}, deny]},
        {"Statement": [{"Effect": "Allow", "Action": ["dynamodb:BatchWriteItem"], "Resource": [ledger]}, deny]},
        {"Statement": [{"Effect": "Allow", "Action": ["dynamodb:UpdateItem"], "Resource": [ledger]}, deny]},
        {"Statement": [{"Effect": "Allow", "Action": ["dynamodb:GetItem"], "Resource": [ledger]}]},
        {"Statement": [{"Effect": "Allow", "Action": ["dynamodb:DeleteItem"], "Resource": [leases, ledger]}, deny]},
        {"Statement": [{"Effect": "Allow", "Action": ["dynamodb:DeleteTable"], "Resource": [leases]}, deny]},
        {"Statement": [{"Effect": "Allow", "Action": ["dynamodb:UpdateItem"],
                        "Resource": ["arn:aws:dynamodb:r:1:table/votechain-caps"]}, deny]},
    ]
    for i, p in enumerate(bad):
        assert problems(f"bad{i}", p), f"the checker let bad policy {i} pass: {p}"


def main():
    self_test()
    errs = []
    files = sorted(glob.glob(os.path.join(ROOT, "deploy/aws/iam/*.json")))
    if not files:
        errs.append("no policies under deploy/aws/iam")
    names = set()
    for f in files:
        name = os.path.basename(f)[:-5]
        names.add(name)
        try:
            policy = json.load(open(f))
        except ValueError as e:
            errs.append(f"{name}: not JSON: {e}")
            continue
        if policy.get("Version") != "2012-10-17":
            errs.append(f"{name}: Version must be 2012-10-17")
        errs += problems(name, policy)
    irsa = open(os.path.join(ROOT, "deploy/k8s/overlays/production/irsa.yaml")).read()
    for role in re.findall(r"role/votechain-([a-z-]+)", irsa):
        if role not in names:
            errs.append(f"IRSA role votechain-{role} has no policy deploy/aws/iam/{role}.json")
    for e in errs:
        print("FAIL iam:", e)
    if not errs:
        print(f"iam: {len(files)} role policies: no delete but lease hygiene, no unscoped ledger or caps write, deletes denied (self-test passed)")
    return 1 if errs else 0


if __name__ == "__main__":
    sys.exit(main())
