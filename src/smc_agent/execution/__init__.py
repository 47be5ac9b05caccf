"""Order lifecycle: idempotent client order ids, the order book driven by venue reports, brackets,
reconciliation against venue reports."""
