"""Pre-trade risk gate (one pure function per check), position sizing, breakers, trading state."""
