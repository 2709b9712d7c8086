"""Training-engine parts (hooks, loops) registered for MMEngine's Runner."""
