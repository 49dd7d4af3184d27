"""prefect.yaml and the automation file agree with the code (no server needed)."""

from __future__ import annotations

from datetime import time
from pathlib import Path
from uuid import uuid4

import yaml

ROOT = Path(__file__).resolve().parents[2]


def test_prefect_yaml_deploys_the_served_flows_on_local_cron_schedules() -> None:
    from prefect.flows import load_flow_from_entrypoint

    from flows.deployments import PREP_DEPLOYMENT, SWEEP_DEPLOYMENT, site_deployments

    config = yaml.safe_load((ROOT / "prefect.yaml").read_text())
    deployments = {entry["name"]: entry for entry in config["deployments"]}
    assert set(deployments) == {SWEEP_DEPLOYMENT, PREP_DEPLOYMENT}
    served = {d.name: d for d in site_deployments("Asia/Shanghai")}
    for name, entry in deployments.items():
        path, function = entry["entrypoint"].split(":")
        flow = load_flow_from_entrypoint(str(ROOT / path) + ":" + function)
        assert flow.name == served[name].flow_name
        crons = [(s["cron"], s["timezone"]) for s in entry["schedules"]]
        assert crons == [(s.schedule.cron, s.schedule.timezone) for s in served[name].schedules]
    assert deployments[PREP_DEPLOYMENT]["parameters"] == {"hours": 8}


def test_serve_schedules_follow_the_site_options() -> None:
    from flows.deployments import site_deployments

    sweep, prep = site_deployments(
        "Asia/Tehran",
        sweep_at=time(5, 30),
        shifts=(time(7, 0), time(19, 0)),
        prep_hours=12,
        site="rigld-tehran",
    )
    assert [(s.schedule.cron, s.schedule.timezone) for s in sweep.schedules] == [
        ("30 5 * * *", "Asia/Tehran")
    ]
    assert [s.schedule.cron for s in prep.schedules] == ["0 7 * * *", "0 19 * * *"]
    assert prep.parameters == {"hours": 12, "site": "rigld-tehran"}


def test_missed_dose_automation_is_a_valid_automation_once_a_block_is_named() -> None:
    from prefect.events.schemas.automations import AutomationCore

    from flows.automations import AUTOMATION_FILE, automation_definition

    block_id = str(uuid4())
    automation = AutomationCore.model_validate(automation_definition(block_id, AUTOMATION_FILE))
    assert automation.trigger.expect == {"dosing.dose.missed"}  # type: ignore[union-attr]
    assert str(automation.actions[0].block_document_id) == block_id  # type: ignore[union-attr]
    # The file itself names no block: each site configures its own.
    assert "BLOCK_DOCUMENT_ID" in AUTOMATION_FILE.read_text()


def test_prefect_yaml_stores_no_database_url_on_the_server() -> None:
    # Job variables and parameters are stored with the deployment on the Prefect server; a database URL
    # may carry a password. Workers read DOSING_DATABASE_URL from their own environment.
    config = yaml.safe_load((ROOT / "prefect.yaml").read_text())
    pools = [config["definitions"]["work_pool"], *(entry["work_pool"] for entry in config["deployments"])]
    for pool in pools:
        assert not {"DOSING_DATABASE_URL", "PREFECT_API_DATABASE_CONNECTION_URL"} & set(
            pool.get("job_variables", {}).get("env", {})
        )
    for entry in config["deployments"]:
        assert "database_url" not in (entry.get("parameters") or {})
    text = (ROOT / "prefect.yaml").read_text()
    assert "{{ $DOSING_DATABASE_URL }}" not in text
