"""Venue connectivity: ccxt gateways, error mapping, quirks, health, failover, exchange simulator."""
