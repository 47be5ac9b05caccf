from __future__ import annotations

import io
import json
import logging

from smc_agent.logs import bind_correlation_id, configure_logging, get_logger


def test_json_lines_with_correlation_id_and_no_secrets() -> None:
    stream = io.StringIO()
    configure_logging(level="INFO", fmt="json", stream=stream)
    try:
        cid = bind_correlation_id()
        log = get_logger("test")
        log.info(
            "login",
            username="alice",
            password="hunter2-secret",
            api_key="smc_abcdef_0123456789abcdefXYZ",
            headers={"Authorization": "Bearer tok-123", "accept": "json"},
            note="used key smc_abcdef_0123456789abcdefXYZ today",
        )
        logging.getLogger("stdlib").warning("plain stdlib line")
    finally:
        configure_logging(level="INFO", fmt="json")
    lines = [json.loads(line) for line in stream.getvalue().splitlines()]
    first = lines[0]
    assert first["event"] == "login" and first["correlation_id"] == cid
    assert first["password"] == "***" and first["api_key"] == "***"
    assert first["headers"] == {"Authorization": "***", "accept": "json"}
    raw = stream.getvalue()
    for secret in ("hunter2-secret", "tok-123", "0123456789abcdefXYZ"):
        assert secret not in raw
    assert lines[1]["event"] == "plain stdlib line" and lines[1]["level"] == "warning"
