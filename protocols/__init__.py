"""Protocol definitions, one YAML file per trial, validated by dosing.protocol.Protocol."""
