"""The conformance matrix: every protocol × data type × variant, served by a fresh twin and read
back from what the gateway publishes (``nexus conformance``)."""

from nexus.conformance.matrix import Cell, conformance_plant
from nexus.conformance.report import CellResult, Report
from nexus.conformance.runner import run_conformance

__all__ = ["Cell", "CellResult", "Report", "conformance_plant", "run_conformance"]
