"""SDTM exports of the dose ledger (EC, EX) from a real SQLite store."""
