"""Process models of the twin: correlated values integrated in simulated time.

A device of the plant file may declare `models:` (a motor, a tank with its PID-driven pump, a
conveyor's piece counter, an energy meter, the machine's state on a shift schedule, alarms with
hysteresis); its tags then serve model outputs (`signal: {kind: model, model: ..., output: ...}`).

base.py        inputs (numbers, signals, other models' outputs, tags), the spec and runtime bases
machine.py …   one module per model kind: its parameters, outputs with units, and equations
models.py      the union of every kind (what `models:` entries are validated as)
validation.py  unknown models, outputs and tags, cycles between models: file, line and field
runtime.py     one expanded device's models stepped together from t = 0, memoised
"""
