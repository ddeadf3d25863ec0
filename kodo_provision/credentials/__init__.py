"""The credentials the tool hands over: files (0600, atomic), pending records of runs that add one, and
certificates (key pairs, PEM/PFX)."""
