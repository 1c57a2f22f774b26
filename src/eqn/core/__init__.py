"""The EQN core, in plain NumPy: energies (eq. 1-3), annotation (eq. 8) and metrics."""
