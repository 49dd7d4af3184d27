"""Dosing and infusion scheduling engine for cell-therapy trials."""
