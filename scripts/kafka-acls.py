"""Prints the kafka-acls.sh commands that apply deploy/kafka/acls.yaml to a cluster.

  python3 scripts/kafka-acls.py --bootstrap B:9096 --command-config admin.properties | sh
"""
import argparse, os, shlex
import yaml

ROOT = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..")
FLAG = {"topic": "--topic", "group": "--group", "transactional-id": "--transactional-id"}

p = argparse.ArgumentParser()
p.add_argument("--bootstrap", required=True)
p.add_argument("--command-config", required=True)
a = p.parse_args()
doc = yaml.safe_load(open(os.path.join(ROOT, "deploy/kafka/acls.yaml")))
for who, acls in doc["principals"].items():
    for acl in acls:
        cmd = ["kafka-acls.sh", "--bootstrap-server", a.bootstrap, "--command-config",
               a.command_config, "--add", "--allow-principal", f"User:{who}"]
        cmd += ["--cluster"] if acl["resource"] == "cluster" else [FLAG[acl["resource"]], acl["name"]]
        if acl.get("pattern") == "prefixed":
            cmd += ["--resource-pattern-type", "prefixed"]
        for op in acl["ops"]:
            cmd += ["--operation", "".join(w.title() for w in op.split("_"))]
        print(" ".join(shlex.quote(c) for c in cmd))
