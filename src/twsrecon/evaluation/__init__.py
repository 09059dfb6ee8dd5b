"""Scoring every product per cell and period, the tables and figures of the evaluation."""
