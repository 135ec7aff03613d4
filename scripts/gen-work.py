#!/usr/bin/env python3
"""Writes a workspace with N tasks and over 10 events each (a task's whole life) into the
event log, for the work-tracking benchmarks in scripts/bench.sh. Synthetic data only.

The events are spelled as the daemon writes them (compact JSON, times in milliseconds) and
spread over the last seven days up to now, the newest few hundred today."""
import datetime
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
# Events per task, as written below (the total is checked at the end).
per_task = 11 + 4 / 6
now = datetime.datetime.now(datetime.timezone.utc)
first = now - datetime.timedelta(days=7)
step = (now - first - datetime.timedelta(minutes=1)) / (tasks * per_task)
statuses = ["active", "review", "blocked", "assigned", "planned", "done"]
with open(os.path.join(root, "state", "events.jsonl"), "w") as out:
    def event(kind, entity_id, status, data):
        global seq
        seq += 1
        at = first + step * seq
        stamp = at.strftime("%Y-%m-%dT%H:%M:%S.") + f"{at.microsecond // 1000:03d}Z"
        out.write(json.dumps({
            "seq": seq, "timestamp": stamp, "type": kind, "source": "bench",
            "entity_type": "task", "entity_id": entity_id, "status": status, "message": kind,
            "data": data}, separators=(",", ":")) + "\n")
    ids = []
    for i in range(tasks):
        entity_id = f"t{seq + 1}"
        event("inbox.item_created", entity_id, "inbox", {"text": f"task {i}: something to do", "source": "bench"})
        ids.append(entity_id)
    for i, entity_id in enumerate(ids):
        event("task.triaged", entity_id, "triaged", {"classification": "task", "priority": ["urgent", "high", "medium", "low"][i % 4], "domain": "backend"})
        event("task.status_changed", entity_id, "planned", {"from": "triaged", "to": "planned"})
        event("task.assigned", entity_id, "assigned", {"owner": "Subagent:Backend", "expected_output": "x", "boundaries": "y", "review_criteria": "z"})
        for to, frm in [("active", "assigned")] + [("review", "active"), ("active", "review")] * 3:
            event("task.status_changed", entity_id, to, {"from": frm, "to": to})
        final = statuses[i % len(statuses)]
        if final == "review":
            event("task.status_changed", entity_id, "review", {"from": "active", "to": "review"})
        elif final == "blocked":
            event("task.blocked", entity_id, "blocked", {"from": "active", "to": "blocked", "blocker": "waiting"})
        elif final == "done":
            event("task.status_changed", entity_id, "review", {"from": "active", "to": "review"})
            event("task.status_changed", entity_id, "done", {"from": "review", "to": "done"})
assert seq <= tasks * per_task + 1, (seq, tasks * per_task)
print(seq)
