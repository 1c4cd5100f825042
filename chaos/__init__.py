"""Chaos: fault timelines (scenarios) run against a target, checked by the zero-loss ledger.

- `chaos.scenario`: the scenario file (plant, services, load, timeline of faults, expectations)
- `chaos.ledger`: the checker: what the broker acknowledged against what the historian holds
- `chaos.target`: the interface every target implements (local processes, containers, kind)
- `chaos.local`: the local target (processes on this machine, links through `chaos.proxy`)
- `chaos.engine`: plays a scenario's timeline on a target and checks the result
- `chaos.report`: the JSON result and the self-contained HTML report
"""
