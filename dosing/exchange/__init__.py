"""Exchange formats for the ledger's data: ``sdtm`` (CDISC SDTM EX and EC rows) is pure (no I/O)."""
