"""Market data: paginated download with resume, validation and repair, candle store, live stream."""
