#!/usr/bin/env python3
"""Writes a workspace with N tasks and about 10 events each (a task's whole life) into the
event log, for the work-tracking benchmarks in scripts/bench.sh. Synthetic data only."""
import json
import os
import sys

root = sys.argv[1]
tasks = int(sys.argv[2]) if len(sys.argv) > 2 else 10_000
os.makedirs(os.path.join(root, "desired"), exist_ok=True)
os.makedirs(os.path.join(root, "state"), exist_ok=True)
with open(os.path.join(root, "desired", "agents.yaml"), "w") as f:
    f.write("kind: Agent\nid: fakker\nname: Fakker\nrole: orchestrator\n")
seq = 0
statuses = ["active", "review", "blocked", "assigned", "planned", "done"]
with open(os.path.join(root, "state", "events.jsonl"), "w") as out:
    def event(kind, entity_id, status, data):
        global seq
        seq += 1
        out.write(json.dumps({
            "seq": seq, "timestamp": "2026-12-01T08:00:00.000Z", "type": kind, "source": "bench",
            "entity_type": "task", "entity_id": entity_id, "status": status, "message": kind,
            "data": data}) + "\n")
    ids = []
    for i in range(tasks):
        entity_id = f"t{seq + 1}"
        event("inbox.item_created", entity_id, "inbox", {"text": f"task {i}: something to do", "source": "bench"})
        ids.append(entity_id)
    for i, entity_id in enumerate(ids):
        event("task.triaged", entity_id, "triaged", {"classification": "task", "priority": ["urgent", "high", "medium", "low"][i % 4], "domain": "backend"})
        event("task.status_changed", entity_id, "planned", {"from": "triaged", "to": "planned"})
        event("task.assigned", entity_id, "assigned", {"owner": "Subagent:Backend", "expected_output": "x", "boundaries": "y", "review_criteria": "z"})
        for to, frm in [("active", "assigned"), ("review", "active"), ("active", "review")]:
            event("task.status_changed", entity_id, to, {"from": frm, "to": to})
        final = statuses[i % len(statuses)]
        if final == "review":
            event("task.status_changed", entity_id, "review", {"from": "active", "to": "review"})
        elif final == "blocked":
            event("task.blocked", entity_id, "blocked", {"from": "active", "to": "blocked", "blocker": "waiting"})
        elif final == "done":
            event("task.status_changed", entity_id, "review", {"from": "active", "to": "review"})
            event("task.status_changed", entity_id, "done", {"from": "review", "to": "done"})
print(seq)
