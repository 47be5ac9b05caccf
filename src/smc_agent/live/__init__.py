"""Live and paper trading runtime: services, order gateway, halt guard, streams, demo."""
