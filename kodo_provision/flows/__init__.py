"""Day-2 lifecycle flows on the same read/plan core as onboarding: verify, rotate-secret, offboard."""
